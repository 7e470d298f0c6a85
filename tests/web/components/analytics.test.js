// Tests of the analytics pages' logic and charts, in Chromium without a server
// (tests/web/test_analytics_components.py runs every exported `test_*` function as a pytest
// case, and drives whole pages mounted by `mountPage` on the fake API of
// fake_analytics_api.js). A test throws to fail.
import { render } from 'preact';
import {
  alignSeries,
  breakdownRows,
  change,
  fitInterval,
  formatBucket,
  formatChange,
  formatValue,
  freePlace,
  moveView,
  movingAverage,
  previousRange,
  previousValues,
  reportQuery,
  resizeView,
  resolveRange,
  settle,
  wallTime,
  zonedToUtc,
  zoomInto,
} from '/admin/js/analytics_model.js';
import { viewFigures } from '/admin/js/analytics_views.js';
import { ChartView, chartConfig, chartSummary } from '/admin/js/charts.js';
import { html } from '/admin/js/html.js';
import { install, requests, reset } from '/components/fake_analytics_api.js';

const root = () => document.getElementById('root');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function expect(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

async function until(check, what) {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; page: ${root().innerHTML.slice(0, 2000)}`);
    await sleep(10);
  }
}

const at = (text) => Date.parse(text);
const view = (id, x, y, w = 6, h = 2) => ({ id, title: id, position: { x, y, w, h } });
const places = (views) =>
  Object.fromEntries(views.map((v) => [v.id, [v.position.x, v.position.y, v.position.w, v.position.h]]));

// ---------------------------------------------------------------- time zones and ranges

export async function test_wall_time_and_back_in_a_zone_with_daylight_saving() {
  const ms = at('2026-07-01T10:30:00Z');
  expect(wallTime(ms, 'Europe/Berlin'), { year: 2026, month: 7, day: 1, hour: 12, minute: 30, second: 0 }, 'summer');
  expect(zonedToUtc({ year: 2026, month: 7, day: 1, hour: 12, minute: 30 }, 'Europe/Berlin'), ms, 'back to UTC');
  expect(
    new Date(zonedToUtc({ year: 2026, month: 1, day: 1 }, 'Europe/Berlin')).toISOString(),
    '2025-12-31T23:00:00.000Z',
    'winter midnight',
  );
  expect(
    new Date(zonedToUtc({ year: 2026, month: 3, day: 29 }, 'America/New_York')).toISOString(),
    '2026-03-29T04:00:00.000Z',
    'after the change in New York',
  );
  expect(
    new Date(zonedToUtc({ year: 2026, month: 3, day: 1 }, 'Asia/Tokyo')).toISOString(),
    '2026-02-28T15:00:00.000Z',
    'Tokyo',
  );
}

export async function test_presets_and_custom_ranges() {
  const now = at('2026-12-06T22:15:00Z');
  expect(resolveRange({ preset: '24h' }, 'UTC', now), { from: now - 86400000, to: now }, 'last 24 hours');
  expect(resolveRange({ preset: '7d' }, 'UTC', now).from, now - 7 * 86400000, 'last 7 days');
  expect(
    new Date(resolveRange({ preset: 'month' }, 'Asia/Tokyo', now).from).toISOString(),
    '2026-11-30T15:00:00.000Z',
    'this month in Tokyo (already December 7th there)',
  );
  const custom = resolveRange({ preset: 'custom', start: '2026-10-24', end: '2026-10-25' }, 'Europe/Berlin', now);
  expect(
    [new Date(custom.from).toISOString(), new Date(custom.to).toISOString()],
    ['2026-10-23T22:00:00.000Z', '2026-10-25T23:00:00.000Z'],
    'two whole days across the change to winter time',
  );
  expect(
    resolveRange({ preset: 'custom', start: '2026-10-25', end: '2026-10-24' }, 'UTC', now).error,
    'The last day comes before the first.',
    'reversed',
  );
  expect(
    resolveRange({ preset: 'custom', start: '', end: '2026-10-24' }, 'UTC', now).error,
    'Choose the first and last day of the range.',
    'missing',
  );
  expect(previousRange({ from: 100, to: 160 }), { from: 40, to: 100 }, 'the period before');
}

export async function test_interval_fitting_and_zoom() {
  const year = { from: 0, to: 365 * 86400000 };
  expect(fitInterval(year, 'hour'), 'day', 'a year by the hour is too many points');
  expect(fitInterval(year, 'week'), 'week', 'a coarser choice is kept');
  expect(
    zoomInto(at('2026-10-01T00:00:00Z'), 'day'),
    { interval: 'hour', from: at('2026-10-01T00:00:00Z'), to: at('2026-10-02T00:00:00Z') },
    'a day into hours',
  );
  expect(zoomInto(0, 'hour'), null, 'hours are the finest');
}

export async function test_report_query_leaves_out_empty_filters() {
  const query = reportQuery(
    { metric: 'downloads', interval: 'day', group_by: 'app', filters: { track: 't1', app: ' ', country: 'DE' } },
    { from: at('2026-12-01T00:00:00Z'), to: at('2026-12-02T00:00:00Z') },
    'UTC',
    { compare: 'previous' },
  );
  expect(
    query,
    {
      metric: 'downloads',
      interval: 'day',
      group_by: 'app',
      from: '2026-12-01T00:00:00.000Z',
      to: '2026-12-02T00:00:00.000Z',
      tz: 'UTC',
      limit: undefined,
      compare: 'previous',
      track: 't1',
      country: 'DE',
    },
    'the query',
  );
}

// ---------------------------------------------------------------- series and figures

export async function test_series_are_aligned_on_the_union_of_their_times() {
  const { times, series } = alignSeries([
    {
      key: 'a',
      label: 'A',
      total: 3,
      points: [
        { t: '2026-12-01T00:00:00Z', value: 1 },
        { t: '2026-12-02T00:00:00Z', value: 2 },
      ],
    },
    { key: 'b', total: 5, points: [{ t: '2026-12-03T00:00:00Z', value: 5 }] },
  ]);
  expect(times.length, 3, 'times');
  expect(
    series.map((one) => [one.label, one.values]),
    [
      ['A', [1, 2, 0]],
      ['b', [0, 0, 5]],
    ],
    'values',
  );
  expect(
    previousValues({ series: [{ key: 'a', points: [{ t: '2026-11-01T00:00:00Z', value: 4 }] }] }, 3),
    [4, 0, 0],
    'previous by position',
  );
  expect(previousValues({ total: 3, series: [{ key: 'a', total: 3 }] }, 2), [0, 0], 'totals only: nothing to draw');
  expect(previousValues(null, 2), null, 'no previous report');
  expect(
    breakdownRows({
      series: [
        { key: 'x', total: 1, points: [] },
        { key: 'y', label: 'Y', total: 4, points: [] },
      ],
    }),
    [
      { key: 'y', label: 'Y', value: 4 },
      { key: 'x', label: 'x', value: 1 },
    ],
    'breakdown, largest first',
  );
}

export async function test_moving_average_and_change() {
  expect(movingAverage([3, 6, 9, 0], 3), [3, 4.5, 6, 5], 'trailing mean');
  expect(change(120, 100), 0.2, 'up a fifth');
  expect(change(5, 0), null, 'nothing before');
  expect(change(0, 0), 0, 'nothing either time');
  expect(
    [formatChange(0.2), formatChange(-0.125), formatChange(0), formatChange(null)],
    ['+20 %', '−12.5 %', '±0 %', 'no previous data'],
    'texts',
  );
}

export async function test_values_and_buckets_read_as_people_read_them() {
  expect(
    [
      formatValue('downloads', 12345),
      formatValue('listening_seconds', 5400),
      formatValue('listening_seconds', 600),
      formatValue('completion', 0.4567),
      formatValue('listeners', 2.5),
    ],
    ['12,345', '1 h 30 min', '10 min', '45.7 %', '2.5'],
    'formats',
  );
  const t = at('2026-12-06T23:00:00Z');
  expect(formatBucket(t, 'hour', 'UTC'), '6 Dec, 23:00', 'an hour');
  expect(formatBucket(t, 'day', 'Asia/Tokyo'), '7 Dec 2026', 'a day in Tokyo');
  expect(formatBucket(t, 'month', 'UTC'), 'Dec 2026', 'a month');
}

export async function test_a_grouped_pie_view_shows_each_groups_total() {
  const report = {
    series: [
      { key: 'DE', label: 'Germany', total: 3, points: [] },
      { key: 'FR', total: 7, points: [] },
    ],
  };
  const figures = viewFigures(
    { metric: 'downloads', group_by: 'country', chart: 'pie', interval: 'day' },
    report,
    'UTC',
  );
  expect(figures.labels, ['FR', 'Germany'], 'labels');
  expect(figures.datasets, [{ label: 'Downloads', values: [7, 3] }], 'values');
}

// ---------------------------------------------------------------- charts

export async function test_chart_config_stacks_bars_of_several_series_but_not_comparisons() {
  const format = String;
  const config = chartConfig({
    type: 'bar',
    labels: ['a', 'b'],
    datasets: [
      { label: 'x', values: [1, 2] },
      { label: 'y', values: [3, 4] },
      { label: 'Previous period', values: [2, 2], role: 'previous' },
    ],
    format,
  });
  expect(config.options.scales.y.stacked, true, 'stacked');
  expect(
    config.data.datasets.map((d) => [d.type, d.stack]),
    [
      ['bar', 'main'],
      ['bar', 'main'],
      ['line', 'previous'],
    ],
    'datasets',
  );
  expect(config.data.datasets[2].borderDash, [6, 4], 'the comparison is dashed');
  const pie = chartConfig({ type: 'pie', labels: ['a', 'b'], datasets: [{ label: 'x', values: [1, 2] }], format });
  expect(pie.type, 'doughnut', 'a pie');
  const area = chartConfig({ type: 'area', labels: ['a'], datasets: [{ label: 'x', values: [1] }], format });
  expect([area.type, area.data.datasets[0].fill, area.options.scales.y.stacked], ['line', 'origin', false], 'one area');
}

export async function test_chart_summary_names_the_peak_and_says_where_the_figures_are() {
  const text = chartSummary({
    title: 'Downloads per day',
    labels: ['1 Dec', '2 Dec', '3 Dec'],
    datasets: [{ label: 'Downloads', values: [1, 9, 4] }],
    format: String,
  });
  expect(
    text,
    'Downloads per day from 1 Dec to 3 Dec. Downloads: highest 9 at 2 Dec. The figures are in the table.',
    'summary',
  );
  expect(
    chartSummary({ title: 'T', labels: [], datasets: [], format: String }),
    'T: no data for this period.',
    'empty',
  );
}

export async function test_chart_view_draws_a_canvas_with_a_name_and_a_table() {
  const datasets = [{ label: 'Downloads', values: [1, 9, 4] }];
  render(
    html`<${ChartView} type="line" title="Downloads" labels=${['a', 'b', 'c']} datasets=${datasets} format=${String} />`,
    root(),
  );
  const canvas = root().querySelector('canvas');
  await until(() => canvas.width > 0, 'the chart');
  expect(canvas.getAttribute('role'), 'img', 'the canvas is an image');
  expect(canvas.getAttribute('aria-label').startsWith('Downloads from a to c.'), true, 'its name');
  expect(
    [...root().querySelectorAll('tbody td')].map((td) => td.textContent),
    ['1', '9', '4'],
    'the table',
  );
  render(
    html`<${ChartView} type="table" title="Downloads" labels=${['a']} datasets=${[{ label: 'D', values: [2] }]} format=${String} />`,
    root(),
  );
  expect(root().querySelector('canvas'), null, 'a table view has no canvas');
  expect(root().querySelector('caption').textContent, 'Downloads', 'its caption');
  render(null, root());
}

// ---------------------------------------------------------------- the dashboard grid

export async function test_settle_pushes_overlapping_views_down_and_lifts_gaps() {
  const settled = settle([view('a', 0, 0), view('b', 3, 1), view('c', 0, 5)]);
  expect(places(settled), { a: [0, 0, 6, 2], b: [3, 2, 6, 2], c: [0, 4, 6, 2] }, 'no overlap, no gap');
}

export async function test_moving_a_view_swaps_it_with_its_neighbour() {
  const two = [view('a', 0, 0), view('b', 6, 0)];
  expect(places(moveView(two, 'b', 'left')), { a: [6, 0, 6, 2], b: [0, 0, 6, 2] }, 'left swaps side by side');
  expect(places(moveView(two, 'a', 'right')), { a: [6, 0, 6, 2], b: [0, 0, 6, 2] }, 'right swaps too');
  const stacked = [view('a', 0, 0, 12, 1), view('b', 0, 1, 12, 2)];
  expect(places(moveView(stacked, 'b', 'up')), { a: [0, 2, 12, 1], b: [0, 0, 12, 2] }, 'up swaps rows');
  expect(places(moveView(stacked, 'a', 'down')), { a: [0, 2, 12, 1], b: [0, 0, 12, 2] }, 'down swaps rows');
  const alone = [view('a', 0, 0, 4, 1)];
  expect(places(moveView(alone, 'a', 'right')), { a: [1, 0, 4, 1] }, 'into free space: one column');
  expect(moveView(alone, 'a', 'left'), alone, 'at the edge nothing changes');
  expect(places(moveView(alone, 'a', 'down')), { a: [0, 0, 4, 1] }, 'nothing above: it rises back');
}

export async function test_resizing_stays_in_the_grid_and_moves_others_out_of_the_way() {
  const two = [view('a', 0, 0), view('b', 6, 0)];
  expect(places(resizeView(two, 'a', 1, 0)), { a: [0, 0, 7, 2], b: [6, 2, 6, 2] }, 'wider pushes the neighbour down');
  expect(
    places(resizeView([view('a', 9, 0, 3, 1)], 'a', 1, 0)),
    { a: [8, 0, 4, 1] },
    'wider at the right edge moves left',
  );
  expect(places(resizeView([view('a', 0, 0, 3, 1)], 'a', -1, -1)), { a: [0, 0, 3, 1] }, 'not under the minimum');
  expect(freePlace(two), { x: 0, y: 2, w: 6, h: 2 }, 'a new view goes under a full row');
  expect(freePlace([view('a', 0, 0)]), { x: 6, y: 0, w: 6, h: 2 }, 'or beside');
}

// ---------------------------------------------------------------- whole pages (driven from Python)

let uninstall = null;

export function fakeRequests() {
  return [...requests];
}

// Mounts a page (analytics or the dashboards) on the fake API; `fresh` starts with no
// stored dashboards and no requests.
export async function mountPage(name, props = {}, { fresh = true, failRealtime = false } = {}) {
  unmountPage();
  if (fresh) reset();
  requests.length = 0;
  uninstall = install({ failRealtime });
  const module = await import(
    name === 'analytics' ? '/admin/js/pages/analytics.js' : '/admin/js/pages/analytics-dashboards.js'
  );
  const Page = module.default;
  render(html`<${Page} user=${{ name: 'ada', role: 'admin' }} ...${props} />`, root());
  return true;
}

export function unmountPage() {
  render(null, root());
  uninstall?.();
  uninstall = null;
}
