// Tests of the web admin's shared hooks and components, each rendered alone in Chromium
// (tests/web/test_components.py runs every exported `test_*` function as a pytest case).
// A test throws to fail; `expect(actual, expected, what)` compares JSON forms.
import { render } from 'preact';
import { useState } from 'preact/hooks';
import { useDebounced, useLoad, usePoll, useVisible, useWidth } from '/admin/js/hooks.js';
import { html } from '/admin/js/html.js';
import { newestOnly } from '/admin/js/job_lists.js';
import { BarPlot, LinePlot, niceCeiling } from '/admin/js/plots.js';
import { buildRule, describeRule, parseRule, shiftWallTime, wallTimeDifference } from '/admin/js/recurrence.js';
import { formatBytes, formatDuration, Pager, ProgressBar } from '/admin/js/ui.js';

const root = () => document.getElementById('root');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function expect(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

// Until `check()` holds (hooks run their effects after a frame), or fail after a second.
async function until(check, what) {
  const deadline = Date.now() + 1000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; page: ${root().innerHTML}`);
    await sleep(5);
  }
}

// Renders a component (tests read hook results through variables it sets).
function mount(component) {
  render(component, root());
  return () => render(null, root());
}

// Until effects have run: preact runs them after the next frame.
const effects = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

// Pretend the tab is hidden or shown, as the browser says with visibilitychange.
function setHidden(hidden) {
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
  document.dispatchEvent(new Event('visibilitychange'));
}

// ---------------------------------------------------------------- hooks

export async function test_use_width_measures_the_element() {
  let width = null;
  function Box() {
    const [ref, measured] = useWidth(50);
    width = measured;
    return html`<div ref=${ref} style="width: 321px">box</div>`;
  }
  const unmount = mount(html`<${Box} />`);
  expect(width, 50, 'the fallback before measuring');
  await until(() => width === 321, 'the measured width');
  root().firstChild.style.width = '200px';
  await until(() => width === 200, 'the width after a resize');
  unmount();
}

export async function test_use_poll_reads_now_and_again_every_period() {
  let calls = 0;
  let seen = null;
  function Poller() {
    seen = usePoll(async () => ++calls, 40);
    return null;
  }
  const unmount = mount(html`<${Poller} />`);
  await until(() => seen.data === 1, 'the first reading');
  await until(() => seen.data >= 3, 'readings every 40 ms');
  unmount();
  const after = calls;
  await sleep(120);
  expect(calls, after, 'calls after unmounting');
}

export async function test_use_poll_keeps_the_last_data_when_a_reading_fails() {
  let calls = 0;
  let seen = null;
  function Poller() {
    seen = usePoll(async () => {
      calls += 1;
      if (calls > 1) throw new Error('down');
      return 'first';
    }, 30);
    return null;
  }
  const unmount = mount(html`<${Poller} />`);
  await until(() => seen.error !== null, 'the failed reading');
  expect([seen.data, seen.error.message], ['first', 'down'], 'data and error');
  unmount();
}

export async function test_use_poll_stops_while_the_tab_is_hidden_and_reads_when_shown() {
  let calls = 0;
  function Poller() {
    usePoll(async () => ++calls, 30);
    return null;
  }
  const unmount = mount(html`<${Poller} />`);
  try {
    await until(() => calls >= 1, 'the first reading');
    setHidden(true);
    await sleep(40); // a timer set before hiding may still fire once
    const hiddenAt = calls;
    await sleep(120);
    expect(calls, hiddenAt, 'readings while hidden');
    setHidden(false);
    await until(() => calls > hiddenAt, 'a reading on showing the tab');
  } finally {
    setHidden(false);
    unmount();
  }
}

export async function test_use_poll_does_nothing_when_disabled() {
  let calls = 0;
  function Poller() {
    usePoll(async () => ++calls, 10, { enabled: false });
    return null;
  }
  const unmount = mount(html`<${Poller} />`);
  await sleep(60);
  expect(calls, 0, 'calls');
  unmount();
}

export async function test_use_load_loads_and_loads_again_when_its_dependencies_change() {
  const asked = [];
  let seen = null;
  let setPage = null;
  function Loader() {
    const [page, set] = useState(1);
    setPage = set;
    seen = useLoad(async () => {
      asked.push(page);
      return `page ${page}`;
    }, [page]);
    return null;
  }
  const unmount = mount(html`<${Loader} />`);
  expect(seen.loading, true, 'loading at first');
  await until(() => seen.data === 'page 1', 'the first load');
  setPage(2);
  await until(() => seen.data === 'page 2', 'the load for new dependencies');
  expect([asked, seen.loading, seen.error], [[1, 2], false, null], 'loads and state');
  unmount();
}

export async function test_use_load_reports_an_error_and_reload_retries() {
  let fail = true;
  let seen = null;
  function Loader() {
    seen = useLoad(async () => {
      if (fail) throw new Error('nope');
      return 'ok';
    });
    return null;
  }
  const unmount = mount(html`<${Loader} />`);
  await until(() => seen.error !== null, 'the error');
  expect([seen.data, seen.loading], [null, false], 'state after the error');
  fail = false;
  await seen.reload();
  await until(() => seen.data === 'ok', 'the reloaded data');
  expect(seen.error, null, 'the error after a good reload');
  unmount();
}

export async function test_use_debounced_calls_once_after_a_burst() {
  let calls = 0;
  let call = null;
  function Debounced() {
    call = useDebounced(() => {
      calls += 1;
    }, 30);
    return null;
  }
  const unmount = mount(html`<${Debounced} />`);
  await until(() => call !== null, 'the callback');
  for (let i = 0; i < 5; i += 1) call();
  await sleep(10);
  expect(calls, 0, 'calls before the wait is over');
  await until(() => calls === 1, 'the one call');
  await sleep(50);
  expect(calls, 1, 'calls after the burst');
  unmount();
}

export async function test_use_visible_follows_the_tab() {
  let visible = null;
  function Visible() {
    visible = useVisible();
    return null;
  }
  const unmount = mount(html`<${Visible} />`);
  await effects();
  try {
    expect(visible, true, 'visible at first');
    setHidden(true);
    await until(() => visible === false, 'hidden');
    setHidden(false);
    await until(() => visible === true, 'shown again');
  } finally {
    setHidden(false);
    unmount();
  }
}

// ---------------------------------------------------------------- plots

export async function test_nice_ceiling_rounds_up_to_one_two_two_and_a_half_or_five() {
  const cases = [
    [0, 1],
    [-3, 1],
    [0.7, 1],
    [1, 1],
    [1.2, 2],
    [2.2, 2.5],
    [3, 5],
    [7, 10],
    [180, 200],
    [2600, 5000],
  ];
  expect(
    cases.map(([value]) => niceCeiling(value)),
    cases.map(([, top]) => top),
    'tops',
  );
}

export async function test_line_plot_summarises_its_points_and_breaks_at_gaps() {
  const minute = 60000;
  const points = [
    { t: 1 * minute, v: 1 },
    { t: 2 * minute, v: 3 },
    { t: 3 * minute, v: null },
    { t: 4 * minute, v: 2 },
    { t: 5 * minute, v: 6 },
  ];
  const unmount = mount(
    html`<div style="width: 500px"><${LinePlot} title="Requests per second" points=${points} span=${5 * minute}
      format=${(v) => v.toFixed(1)} unit="req/s" /></div>`,
  );
  const svg = root().querySelector('svg');
  expect(
    svg.getAttribute('aria-label'),
    'Requests per second, last 5 minutes: latest 6.0, peak 6.0, average 3.0.',
    'the summary',
  );
  expect(svg.querySelectorAll('.plot-line').length, 2, 'lines (a gap splits them)');
  expect(
    [...svg.querySelectorAll('.plot-axis > g > text')].map((t) => t.textContent),
    ['0.0', '5.0', '10.0'],
    'the axis (0, half and a nice top)',
  );
  expect(root().querySelectorAll('tbody tr').length, 4, 'rows of the hidden table (gaps left out)');
  await until(() => svg.getAttribute('width') === '500', 'the plot to take its width');
  unmount();
}

export async function test_line_plot_without_points_says_so() {
  const unmount = mount(html`<${LinePlot} title="Hit ratio" points=${[]} span=${60000} format=${String} unit="%" />`);
  expect(root().querySelector('svg').getAttribute('aria-label'), 'Hit ratio: no data yet.', 'the summary');
  unmount();
}

export async function test_bar_plot_stacks_parts_in_proportion() {
  const rows = [
    {
      label: 'Music',
      parts: [
        { name: 'Originals', value: 300, kind: 'a' },
        { name: 'Renditions', value: 100, kind: 'b' },
      ],
    },
    { label: 'Talks', parts: [{ name: 'Originals', value: 200, kind: 'a' }] },
  ];
  const legend = [
    { name: 'Originals', kind: 'a' },
    { name: 'Renditions', kind: 'b' },
  ];
  const unmount = mount(
    html`<div style="width: 600px"><${BarPlot} title="Storage" rows=${rows} format=${(v) => `${v} B`}
      legend=${legend} empty="None." /></div>`,
  );
  await until(() => root().querySelector('svg').getAttribute('width') === '600', 'the plot to take its width');
  const svg = root().querySelector('svg');
  expect(svg.getAttribute('aria-label'), 'Storage: Music 400 B, Talks 200 B.', 'the summary');
  const widths = [...svg.querySelectorAll('rect')].map((r) => Number(r.getAttribute('width')));
  expect(widths.length, 3, 'bars');
  expect(Math.round((widths[0] / widths[1]) * 100) / 100, 3, 'first row: 300 against 100');
  expect(widths[0] + widths[1], widths[2] * 2, 'the longest row is twice the other');
  expect(root().querySelectorAll('.plot-legend li').length, 2, 'legend entries');
  unmount();
}

export async function test_bar_plot_without_rows_shows_its_empty_text() {
  const unmount = mount(html`<${BarPlot} title="Storage" rows=${[]} format=${String} empty="No library yet." />`);
  expect(root().querySelector('svg'), null, 'no plot');
  expect(root().querySelector('p.muted').textContent, 'No library yet.', 'the empty text');
  unmount();
}

// ---------------------------------------------------------------- ui

export async function test_progress_bar_clamps_and_rounds() {
  const unmount = mount(
    html`<div><${ProgressBar} value=${1.7} label="a" /><${ProgressBar} value=${-1} label="b" /><${ProgressBar}
      value=${0.426} label="c" /></div>`,
  );
  expect(
    [...root().querySelectorAll('[role=progressbar]')].map((bar) => bar.getAttribute('aria-valuenow')),
    ['100', '0', '43'],
    'values',
  );
  unmount();
}

export async function test_pager_shows_only_with_a_cursor() {
  const unmount = mount(html`<div><${Pager} next=${null} previous=${null} /></div>`);
  expect(root().querySelector('nav'), null, 'no pager without cursors');
  render(html`<div><${Pager} next="c2" previous=${null} /></div>`, root());
  const [previous, next] = root().querySelectorAll('nav button');
  expect([previous.disabled, next.disabled], [true, false], 'disabled buttons');
  unmount();
}

export async function test_formatting_of_durations_and_bytes() {
  expect(
    [formatDuration(null), formatDuration(5), formatDuration(65.4), formatDuration(3725)],
    ['–', '0:05', '1:05', '1:02:05'],
    'durations',
  );
  expect(
    [formatBytes(undefined), formatBytes(999), formatBytes(1500), formatBytes(2_500_000_000)],
    ['–', '999 B', '1.5 kB', '2.5 GB'],
    'bytes',
  );
}

// ---------------------------------------------------------------- job lists

export async function test_a_job_read_in_two_lists_is_kept_only_in_its_newest() {
  const job = (id, updated_at) => ({ id, updated_at });
  const lists = newestOnly({
    running: { total: 2, items: [job('a', '2026-12-06T10:00:01Z'), job('b', '2026-12-06T10:00:00Z')] },
    failed: { total: 3, items: [job('a', '2026-12-06T10:00:02Z'), job('c', '2026-12-06T09:00:00Z')] },
  });
  expect(
    lists.running.items.map((j) => j.id),
    ['b'],
    'running',
  );
  expect(lists.running.total, 1, 'running total');
  expect(
    lists.failed.items.map((j) => j.id),
    ['a', 'c'],
    'failed',
  );
  expect(lists.failed.total, 3, 'failed total');
}

// ---------------------------------------------------------------- repetition rules

export async function test_the_common_repetition_rules_read_back_as_they_were_built() {
  const cases = [
    [{ repeat: 'daily', interval: 1, days: [], end: 'never' }, 'FREQ=DAILY'],
    [{ repeat: 'daily', interval: 2, days: [], end: 'count', count: 5 }, 'FREQ=DAILY;INTERVAL=2;COUNT=5'],
    [{ repeat: 'weekdays', interval: 1, days: [], end: 'never' }, 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR'],
    [
      { repeat: 'weekly', interval: 1, days: ['SA', 'MO'], end: 'until', until: '2027-01-31' },
      'FREQ=WEEKLY;BYDAY=MO,SA;UNTIL=20270131T235959',
    ],
  ];
  for (const [rule, text] of cases) {
    expect(buildRule(rule), text, `built ${JSON.stringify(rule)}`);
    const back = parseRule(text);
    expect(buildRule(back), text, `parsed and built again: ${text}`);
    expect(back.repeat, rule.repeat, `the choice of ${text}`);
  }
  expect(buildRule({ repeat: 'none' }), null, 'once');
  expect(
    buildRule({ repeat: 'weekly', interval: 1, days: [], end: 'never' }, 'TH'),
    'FREQ=WEEKLY;BYDAY=TH',
    'the start day',
  );
}

export async function test_a_rule_the_form_cannot_show_stays_as_text() {
  for (const text of ['FREQ=MONTHLY;BYDAY=1MO', 'FREQ=WEEKLY;BYDAY=-1FR', 'FREQ=DAILY;BYHOUR=9', 'nonsense']) {
    const rule = parseRule(text);
    expect(rule.repeat, 'custom', text);
    expect(buildRule(rule), text, `${text} sent back unchanged`);
  }
  expect(describeRule('FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=5'), 'Every weekday, 5 times', 'described');
  expect(describeRule(null), 'Once', 'no rule');
}

export async function test_wall_times_shift_without_a_zone() {
  expect(shiftWallTime('2026-03-29T01:30:00', 3600 * 1000), '2026-03-29T02:30:00', 'no DST gap in wall time');
  expect(shiftWallTime('2026-12-31T23:00:00', 2 * 3600 * 1000), '2027-01-01T01:00:00', 'across the year');
  expect(wallTimeDifference('2026-12-03T20:00:00', '2026-12-03T18:00:00'), 7200000, 'the difference');
}
