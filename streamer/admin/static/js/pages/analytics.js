// The analytics page: a metric over a date range (presets or custom days in a time zone)
// at an interval, filtered, with the previous period and a moving average to compare,
// totals with their change, breakdowns (top tracks, apps, devices, browsers, countries),
// listeners now, and the report as CSV or JSON. The whole view lives in the address, so a
// reload or a shared link shows the same report. Figures come from /api/v1/analytics
// (rollups; see docs/analytics.md).
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  alignSeries,
  BREAKDOWNS,
  breakdownRows,
  change,
  dateInput,
  FILTERS,
  fitInterval,
  formatBucket,
  formatChange,
  formatValue,
  GROUPS,
  INTERVALS,
  label,
  MAX_POINTS,
  METRICS,
  movingAverage,
  PRESETS,
  pointCount,
  previousRange,
  previousValues,
  reportQuery,
  resolveRange,
  zoomInto,
} from '../analytics_model.js';
import { FilterFields } from '../analytics_views.js';
import { apiUrl, get } from '../api.js';
import { ChartView } from '../charts.js';
import { usePoll } from '../hooks.js';
import { html } from '../html.js';
import { LinePlot } from '../plots.js';
import { queryParams, setQuery } from '../router.js';
import { ErrorMessage, Loading, problemText, useTitle } from '../ui.js';

const REALTIME_EVERY = 5000;
const AVERAGES = [0, 3, 7, 14, 28]; // moving average windows, in points
const LOCAL_TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const ZONES = (() => {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return [...new Set(['UTC', LOCAL_TZ, ...zones])];
})();

// The view from the address (anything missing or unknown falls back to a default).
export function viewFromQuery(params) {
  const pick = (list, value, fallback) => (list.some((item) => item.value === value) ? value : fallback);
  const preset = pick(PRESETS, params.range, '7d');
  const view = {
    range: preset,
    start: params.start || '',
    end: params.end || '',
    interval: pick(INTERVALS, params.interval, PRESETS.find((p) => p.value === preset).interval),
    tz: ZONES.includes(params.tz) ? params.tz : LOCAL_TZ,
    metric: pick(METRICS, params.metric, 'downloads'),
    group_by: pick(GROUPS, params.group_by, 'none'),
    chart: ['line', 'area', 'bar'].includes(params.chart) ? params.chart : 'line',
    compare: params.compare !== '0',
    average: AVERAGES.includes(Number(params.average)) ? Number(params.average) : 0,
    filters: {},
  };
  for (const name of FILTERS) if (params[name]) view.filters[name] = params[name];
  return view;
}

function queryFromView(view) {
  return {
    range: view.range,
    start: view.range === 'custom' ? view.start : '',
    end: view.range === 'custom' ? view.end : '',
    interval: view.interval,
    tz: view.tz === LOCAL_TZ ? '' : view.tz,
    metric: view.metric,
    group_by: view.group_by === 'none' ? '' : view.group_by,
    chart: view.chart === 'line' ? '' : view.chart,
    compare: view.compare ? '' : '0',
    average: view.average || '',
    ...view.filters,
  };
}

function options(list) {
  return list.map((item) => html`<option key=${item.value} value=${item.value}>${item.label}</option>`);
}

// ---------------------------------------------------------------- controls

function Controls({ view, onChange }) {
  const set = (name, value) => onChange({ ...view, [name]: value });
  const setPreset = (preset) => {
    const next = { ...view, range: preset, interval: PRESETS.find((p) => p.value === preset).interval };
    if (preset === 'custom' && !view.start) {
      // A custom range starts as the last 7 days, to be edited.
      next.start = dateInput(Date.now() - 6 * 86400000, view.tz);
      next.end = dateInput(Date.now(), view.tz);
    }
    onChange(next);
  };
  return html`<form class="card an-controls" aria-label="Report" onSubmit=${(e) => e.preventDefault()}>
    <fieldset class="an-fieldset">
      <legend>Period</legend>
      <label for="an-range">Range
        <select id="an-range" value=${view.range} onChange=${(e) => setPreset(e.currentTarget.value)}>
          ${options(PRESETS)}
        </select>
      </label>
      ${
        view.range === 'custom'
          ? html`<label for="an-start">First day
              <input id="an-start" type="date" value=${view.start} max=${view.end || undefined}
                onChange=${(e) => set('start', e.currentTarget.value)} />
            </label>
            <label for="an-end">Last day
              <input id="an-end" type="date" value=${view.end} min=${view.start || undefined}
                onChange=${(e) => set('end', e.currentTarget.value)} />
            </label>`
          : null
      }
      <label for="an-interval">Interval
        <select id="an-interval" value=${view.interval} onChange=${(e) => set('interval', e.currentTarget.value)}>
          ${options(INTERVALS)}
        </select>
      </label>
      <label for="an-tz">Time zone
        <select id="an-tz" value=${view.tz} onChange=${(e) => set('tz', e.currentTarget.value)}>
          ${ZONES.map((zone) => html`<option key=${zone} value=${zone}>${zone}</option>`)}
        </select>
      </label>
    </fieldset>
    <fieldset class="an-fieldset">
      <legend>Measure</legend>
      <label for="an-metric">Metric
        <select id="an-metric" value=${view.metric} onChange=${(e) => set('metric', e.currentTarget.value)}>
          ${options(METRICS)}
        </select>
      </label>
      <label for="an-group">Split by
        <select id="an-group" value=${view.group_by} onChange=${(e) => set('group_by', e.currentTarget.value)}>
          ${options(GROUPS)}
        </select>
      </label>
      <label for="an-chart">Chart
        <select id="an-chart" value=${view.chart} onChange=${(e) => set('chart', e.currentTarget.value)}>
          <option value="line">Line</option>
          <option value="area">Area</option>
          <option value="bar">Bars</option>
        </select>
      </label>
      <label for="an-average">Moving average
        <select id="an-average" value=${String(view.average)}
          onChange=${(e) => set('average', Number(e.currentTarget.value))}>
          ${AVERAGES.map((n) => html`<option key=${n} value=${String(n)}>${n ? `${n} points` : 'Off'}</option>`)}
        </select>
      </label>
      <label class="check" for="an-compare">
        <input id="an-compare" type="checkbox" checked=${view.compare}
          onChange=${(e) => set('compare', e.currentTarget.checked)} />
        Compare with the previous period
      </label>
    </fieldset>
    <fieldset class="an-fieldset an-fieldset-wide">
      <legend>Filters</legend>
      <${FilterFields} idPrefix="an-filter" filters=${view.filters}
        onChange=${(filters) => onChange({ ...view, filters })} />
    </fieldset>
  </form>`;
}

// ---------------------------------------------------------------- figures

function Totals({ totals, metric }) {
  return html`<ul class="tiles an-totals" aria-label="Totals for the period">
    ${METRICS.map(({ value, label: name }) => {
      const found = totals[value];
      const now = found?.report ? totalOf(found.report) : null;
      const before = found?.report?.previous ? (found.report.previous.total ?? null) : null;
      const delta = change(now, before);
      const direction = delta === null || delta === 0 ? 'flat' : delta > 0 ? 'up' : 'down';
      return html`<li key=${value} class=${`tile${value === metric ? ' an-tile-current' : ''}`}>
        <span class="tile-label">${name}</span>
        <span class="tile-value">${found?.error ? '–' : formatValue(value, now)}</span>
        <span class=${`an-change an-change-${direction}`}>
          ${found?.error ? problemText(found.error) : delta === null ? 'nothing counted in the previous period' : `${formatChange(delta)} vs the previous period`}
        </span>
      </li>`;
    })}
  </ul>`;
}

// The total of a report: the server's when given, otherwise the sum of its series'.
function totalOf(report) {
  if (typeof report.total === 'number') return report.total;
  return (report.series || []).reduce((sum, one) => sum + (one.total ?? 0), 0);
}

function Breakdown({ by, title, result, metric }) {
  const rows = result?.report ? breakdownRows(result.report) : [];
  const format = (value) => formatValue(metric, value);
  return html`<section class="card an-breakdown" aria-labelledby=${`an-bd-${by}`}>
    <h3 id=${`an-bd-${by}`}>${title}</h3>
    ${
      result?.error
        ? html`<${ErrorMessage} error=${result.error} />`
        : !result
          ? html`<${Loading} />`
          : rows.length
            ? html`<${ChartView} type="bar" horizontal=${true} title=${`${title}: ${label(METRICS, metric)}`}
                header=${label(GROUPS, by)} height=${Math.max(120, rows.length * 26 + 40)}
                labels=${rows.map((row) => row.label)}
                datasets=${[{ label: label(METRICS, metric), values: rows.map((row) => row.value) }]}
                format=${format} tableOpen=${false} />`
            : html`<p class="muted">Nothing counted in this period.</p>`
    }
  </section>`;
}

function Realtime() {
  const realtime = usePoll(() => get('/analytics/realtime'), REALTIME_EVERY);
  const data = realtime.data;
  if (realtime.error && !data) {
    return html`<section class="card an-realtime" aria-labelledby="an-now">
      <h2 id="an-now">Listeners now</h2>
      <p class="muted">${problemText(realtime.error)}</p>
    </section>`;
  }
  if (!data) return html`<section class="card an-realtime"><${Loading} /></section>`;
  const points = (data.minutes || []).map((m) => ({ t: Date.parse(m.t), v: m.listeners }));
  const span = Math.max(60000, (data.window_seconds || 0) * 1000, points.length ? points.at(-1).t - points[0].t : 0);
  return html`<section class="card an-realtime" aria-labelledby="an-now">
    <h2 id="an-now">Listeners now</h2>
    <p class="an-now-value" aria-live="polite"><span data-testid="listeners-now">${data.listeners_now}</span>
      <span class="muted"> in the last ${Math.round((data.window_seconds || 0) / 60) || 1} min</span></p>
    ${points.length > 1 ? html`<${LinePlot} title="Listeners, last minutes" points=${points} span=${span} format=${(v) => (Number.isInteger(v) ? String(v) : v.toFixed(1))} unit="Listeners" />` : null}
    ${
      data.by_subject?.length
        ? html`<ul class="an-now-list">
            ${data.by_subject.slice(0, 5).map(
              (one) => html`<li key=${`${one.kind}-${one.id}`}><span>${one.label || one.id}</span>
                <span class="muted"> (${one.kind})</span> <strong>${one.listeners}</strong></li>`,
            )}
          </ul>`
        : null
    }
  </section>`;
}

// ---------------------------------------------------------------- the page

export default function Analytics() {
  useTitle('Analytics');
  const [view, setView] = useState(() => viewFromQuery(queryParams()));
  const [main, setMain] = useState(null); // {report} | {error}
  const [before, setBefore] = useState(null); // the previous period's report (same query)
  const [totals, setTotals] = useState({});
  const [breakdowns, setBreakdowns] = useState({});
  const generation = useRef(0);
  // Relative ranges end now: Refresh reads them again up to the new now.
  const [refreshed, setRefreshed] = useState(0);

  const range = useMemo(
    () => resolveRange({ preset: view.range, start: view.start, end: view.end }, view.tz),
    [view.range, view.start, view.end, view.tz, refreshed],
  );
  const tooMany = !range.error && pointCount(range, view.interval) > MAX_POINTS;
  const mainQuery = range.error
    ? null
    : reportQuery(view, range, view.tz, { compare: view.compare ? 'previous' : undefined, limit: 10 });

  useEffect(() => {
    setQuery(queryFromView(view));
  }, [view]);

  const key = JSON.stringify([mainQuery, tooMany]);
  useEffect(() => {
    if (!mainQuery || tooMany) return;
    const mine = ++generation.current;
    const mineOnly = (setter) => (value) => mine === generation.current && setter(value);
    const settle = (promise) =>
      promise.then(
        (report) => ({ report }),
        (error) => ({ error }),
      );
    setMain(null);
    setBefore(null);
    setBreakdowns({});
    settle(get('/analytics/report', { query: mainQuery })).then(mineOnly(setMain));
    if (view.compare) {
      // The report's own `previous` has totals only; the line needs the points.
      const query = reportQuery(view, previousRange(range), view.tz, { limit: 10 });
      get('/analytics/report', { query }).then(mineOnly(setBefore), () => {});
    }
    for (const { value: metric } of METRICS) {
      const query = reportQuery({ ...view, metric, group_by: 'none' }, range, view.tz, { compare: 'previous' });
      settle(get('/analytics/report', { query })).then(
        mineOnly((result) => setTotals((all) => ({ ...all, [metric]: result }))),
      );
    }
    for (const { by } of BREAKDOWNS) {
      const query = reportQuery({ ...view, group_by: by, limit: 10 }, range, view.tz);
      settle(get('/analytics/report', { query })).then(
        mineOnly((result) => setBreakdowns((all) => ({ ...all, [by]: result }))),
      );
    }
  }, [key]);

  const figures = useMemo(() => {
    if (!main?.report) return null;
    const { times, series } = alignSeries(main.report.series || []);
    const labels = times.map((t) => formatBucket(t, view.interval, view.tz));
    const datasets = series.map((one) => ({
      label: view.group_by === 'none' ? label(METRICS, view.metric) : one.label,
      values: one.values,
    }));
    const sum = times.map((_, i) => series.reduce((total, one) => total + one.values[i], 0));
    const previous = view.compare ? previousValues(before, times.length) : null;
    if (previous) datasets.push({ label: 'Previous period', values: previous, role: 'previous' });
    if (view.average && times.length) {
      datasets.push({
        label: `Moving average (${view.average})`,
        values: movingAverage(sum, view.average),
        role: 'average',
      });
    }
    return { times, labels, datasets };
  }, [main, before, view.compare, view.average, view.interval, view.tz, view.group_by, view.metric]);

  const format = (value) => formatValue(view.metric, value);
  const pick = (index) => {
    const zoom = zoomInto(figures.times[index], view.interval);
    if (!zoom) return;
    const day = (ms) => dateInput(ms, view.tz);
    setView({ ...view, range: 'custom', start: day(zoom.from), end: day(zoom.to - 1), interval: zoom.interval });
  };
  const csv = mainQuery ? apiUrl('/analytics/report', { ...mainQuery, format: 'csv' }).href : null;
  const json = mainQuery ? apiUrl('/analytics/report', mainQuery).href : null;
  const title = `${label(METRICS, view.metric)} per ${view.interval}`;

  return html`<div class="analytics">
    <div class="row an-header">
      <h1>Analytics</h1>
      <span class="spacer"></span>
      <button type="button" class="secondary" onClick=${() => setRefreshed((n) => n + 1)}>Refresh</button>
      <a href="/admin/analytics/dashboards">Dashboards</a>
    </div>
    <div class="an-top">
      <${Controls} view=${view} onChange=${setView} />
      <${Realtime} />
    </div>
    ${range.error ? html`<p class="error" role="alert">${range.error}</p>` : null}
    ${
      tooMany
        ? html`<p class="notice" role="alert">
            This range has too many ${view.interval}s to draw.
            <button type="button" class="link" onClick=${() => setView({ ...view, interval: fitInterval(range, view.interval) })}>
              Show by ${fitInterval(range, view.interval)}</button>
          </p>`
        : null
    }
    <${Totals} totals=${totals} metric=${view.metric} />
    <section class="card an-main" aria-labelledby="an-main-title">
      <div class="row">
        <h2 id="an-main-title">${title}</h2>
        <span class="spacer"></span>
        ${
          csv
            ? html`<a class="an-export" href=${csv} download=${`analytics-${view.metric}.csv`}>Export CSV</a>
                <a class="an-export" href=${json} download=${`analytics-${view.metric}.json`}>Export JSON</a>`
            : null
        }
      </div>
      ${
        main?.error
          ? html`<${ErrorMessage} error=${main.error} />`
          : !figures
            ? html`<${Loading} />`
            : figures.labels.length
              ? html`<${ChartView} type=${view.chart} title=${title} labels=${figures.labels}
                  datasets=${figures.datasets} format=${format} height=${300}
                  onPick=${view.interval === 'hour' ? undefined : pick} />
                ${view.interval === 'hour' ? null : html`<p class="muted small">Click a point to see that period in detail.</p>`}`
              : html`<p class="muted">Nothing counted in this period.</p>`
      }
    </section>
    <h2>Breakdowns</h2>
    <div class="an-breakdowns">
      ${BREAKDOWNS.map(
        ({ by, label: name }) =>
          html`<${Breakdown} key=${by} by=${by} title=${name} result=${breakdowns[by]} metric=${view.metric} />`,
      )}
    </div>
  </div>`;
}
