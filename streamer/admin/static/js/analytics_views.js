// Pieces the analytics page and the custom dashboards share: the lists behind the filter
// fields, the filter fields themselves, a saved view drawn from its report, and the form
// that edits a view.
import { useEffect, useId, useMemo, useState } from 'preact/hooks';
import {
  alignSeries,
  breakdownRows,
  CHARTS,
  FILTERS,
  formatBucket,
  formatValue,
  GROUPS,
  INTERVALS,
  label,
  METRICS,
  reportQuery,
} from './analytics_model.js';
import { get } from './api.js';
import { ChartView } from './charts.js';
import { useLoad } from './hooks.js';
import { html } from './html.js';
import { ErrorMessage, Loading } from './ui.js';

export const FILTER_LABELS = {
  track: 'Track',
  playlist: 'Playlist',
  channel: 'Channel',
  app: 'App',
  device: 'Device',
  country: 'Country',
};

// ---------------------------------------------------------------- filter choices

// Tracks, playlists and channels by id for the filter selects, read once per page load
// (a list the user may not read, or that does not exist on this server, is left empty and
// its filter becomes a text field for an id).
let choices = null;

async function optional(path) {
  try {
    const body = await get(path, { query: { limit: 100 } });
    const items = Array.isArray(body) ? body : body.items || [];
    return items.map((item) => ({ id: item.id, label: item.title || item.name || item.path || item.id }));
  } catch {
    return null;
  }
}

export function useChoices() {
  const [state, setState] = useState(choices && !(choices instanceof Promise) ? choices : null);
  useEffect(() => {
    let live = true;
    if (!choices) {
      choices = Promise.all([optional('/tracks'), optional('/playlists'), optional('/channels')]).then(
        ([track, playlist, channel]) => {
          choices = { track, playlist, channel };
          return choices;
        },
      );
    }
    Promise.resolve(choices).then((found) => live && setState(found));
    return () => {
      live = false;
    };
  }, []);
  return state || {};
}

// ---------------------------------------------------------------- filters

export function FilterFields({ filters, onChange, idPrefix }) {
  const lists = useChoices();
  const set = (name, value) => onChange({ ...filters, [name]: value });
  return html`<div class="an-filters">
    ${FILTERS.map((name) => {
      const id = `${idPrefix}-${name}`;
      const list = lists[name];
      const value = filters[name] || '';
      if (list?.length) {
        return html`<label key=${name} for=${id}>${FILTER_LABELS[name]}
          <select id=${id} value=${value} onChange=${(e) => set(name, e.currentTarget.value)}>
            <option value="">All</option>
            ${list.map((item) => html`<option key=${item.id} value=${item.id}>${item.label}</option>`)}
            ${value && !list.some((item) => item.id === value) ? html`<option value=${value}>${value}</option>` : null}
          </select>
        </label>`;
      }
      const hint = ['track', 'playlist', 'channel'].includes(name) ? 'id' : 'name';
      return html`<label key=${name} for=${id}>${FILTER_LABELS[name]}
        <input id=${id} type="search" value=${value} placeholder=${`Any (${hint})`}
          autocomplete="off" onChange=${(e) => set(name, e.currentTarget.value.trim())} />
      </label>`;
    })}
  </div>`;
}

// ---------------------------------------------------------------- a saved view

// The figures of a view: a time series (no grouping, or groups as series) or, for a pie
// and a grouped table, each group's total.
export function viewFigures(view, report, tz) {
  const format = (value) => formatValue(view.metric, value);
  const byGroup = view.group_by && view.group_by !== 'none' && (view.chart === 'pie' || view.chart === 'table');
  if (byGroup) {
    const rows = breakdownRows(report);
    return {
      labels: rows.map((row) => row.label),
      datasets: [{ label: label(METRICS, view.metric), values: rows.map((row) => row.value) }],
      header: label(GROUPS, view.group_by),
      format,
    };
  }
  if (view.chart === 'pie') {
    // A pie of one series over time is each period's share.
    const { times, series } = alignSeries(report.series || []);
    const values = times.map((_, i) => series.reduce((sum, one) => sum + one.values[i], 0));
    return {
      labels: times.map((t) => formatBucket(t, view.interval, tz)),
      datasets: [{ label: label(METRICS, view.metric), values }],
      header: 'Period',
      format,
    };
  }
  const { times, series } = alignSeries(report.series || []);
  return {
    labels: times.map((t) => formatBucket(t, view.interval, tz)),
    datasets: series.map((one) => ({
      label: view.group_by === 'none' ? label(METRICS, view.metric) : one.label,
      values: one.values,
    })),
    header: 'Time',
    format,
  };
}

export function ViewPanel({ view, range, tz, height }) {
  const query = reportQuery({ ...view, limit: view.group_by === 'none' ? undefined : 10 }, range, tz);
  const key = JSON.stringify(query);
  const report = useLoad(() => get('/analytics/report', { query }), [key]);
  const figures = useMemo(() => report.data && viewFigures(view, report.data, tz), [report.data, view.chart]);
  if (report.error) return html`<${ErrorMessage} error=${report.error} />`;
  if (!figures) return html`<${Loading} />`;
  return html`<${ChartView} type=${view.chart} title=${view.title} height=${height} ...${figures} />`;
}

// ---------------------------------------------------------------- the view form

export const NEW_VIEW = {
  title: '',
  metric: 'downloads',
  group_by: 'none',
  interval: 'day',
  chart: 'line',
  filters: {},
  days: 30,
};

// The ranges a view may keep (the API stores `days`: that many days back from now).
export const VIEW_DAYS = [
  { value: 1, label: 'Last 24 hours' },
  { value: 7, label: 'Last 7 days' },
  { value: 30, label: 'Last 30 days' },
  { value: 90, label: 'Last 90 days' },
  { value: 365, label: 'Last 365 days' },
];

function options(list) {
  return list.map((item) => html`<option key=${item.value} value=${item.value}>${item.label}</option>`);
}

// The default title of a view: what it counts, and by what.
export function viewTitle(view) {
  const what = label(METRICS, view.metric);
  return view.group_by && view.group_by !== 'none' ? `${what} by ${label(GROUPS, view.group_by).toLowerCase()}` : what;
}

export function ViewForm({ view, onSubmit, onCancel, submitLabel = 'Save view' }) {
  const [draft, setDraft] = useState({ ...NEW_VIEW, ...view, filters: { ...(view.filters || {}) } });
  const id = useId();
  const set = (name) => (event) => setDraft({ ...draft, [name]: event.currentTarget.value });
  const submit = (event) => {
    event.preventDefault();
    const filters = Object.fromEntries(Object.entries(draft.filters).filter(([, value]) => value));
    onSubmit({ ...draft, title: draft.title.trim() || viewTitle(draft), filters });
  };
  return html`<form class="stack an-view-form" onSubmit=${submit}>
    <label for=${`${id}-title`}>Title
      <input id=${`${id}-title`} value=${draft.title} maxlength="120" placeholder=${viewTitle(draft)}
        onInput=${set('title')} />
    </label>
    <div class="an-form-grid">
      <label for=${`${id}-metric`}>Metric
        <select id=${`${id}-metric`} value=${draft.metric} onChange=${set('metric')}>${options(METRICS)}</select>
      </label>
      <label for=${`${id}-group`}>Group by
        <select id=${`${id}-group`} value=${draft.group_by} onChange=${set('group_by')}>${options(GROUPS)}</select>
      </label>
      <label for=${`${id}-interval`}>Interval
        <select id=${`${id}-interval`} value=${draft.interval} onChange=${set('interval')}>${options(INTERVALS)}</select>
      </label>
      <label for=${`${id}-chart`}>Chart
        <select id=${`${id}-chart`} value=${draft.chart} onChange=${set('chart')}>${options(CHARTS)}</select>
      </label>
      <label for=${`${id}-days`}>Range
        <select id=${`${id}-days`} value=${String(draft.days)}
          onChange=${(event) => setDraft({ ...draft, days: Number(event.currentTarget.value) })}>
          ${VIEW_DAYS.some((one) => one.value === draft.days) ? null : html`<option value=${String(draft.days)}>Last ${draft.days} days</option>`}
          ${VIEW_DAYS.map((one) => html`<option key=${one.value} value=${String(one.value)}>${one.label}</option>`)}
        </select>
      </label>
    </div>
    <fieldset>
      <legend>Filters</legend>
      <${FilterFields} idPrefix=${`${id}-filter`} filters=${draft.filters}
        onChange=${(filters) => setDraft({ ...draft, filters })} />
    </fieldset>
    <div class="row">
      <button type="submit">${submitLabel}</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}
