// Pure logic of the analytics pages (no DOM, no fetch): date ranges in a time zone, the
// report query, series from a report, moving averages, period-over-period change and the
// arrangement of a dashboard's views on a grid. Tested as functions in
// tests/web/components/analytics.test.js.

export const METRICS = [
  { value: 'downloads', label: 'Downloads' },
  { value: 'listeners', label: 'Listeners' },
  { value: 'listening_seconds', label: 'Listening time' },
  { value: 'sessions', label: 'Sessions' },
  { value: 'completion', label: 'Completion' },
];
export const INTERVALS = [
  { value: 'hour', label: 'Hour' },
  { value: 'day', label: 'Day' },
  { value: 'week', label: 'Week' },
  { value: 'month', label: 'Month' },
];
export const PRESETS = [
  { value: '24h', label: 'Last 24 hours', interval: 'hour' },
  { value: '7d', label: 'Last 7 days', interval: 'day' },
  { value: '30d', label: 'Last 30 days', interval: 'day' },
  { value: 'month', label: 'This month', interval: 'day' },
  { value: 'custom', label: 'Custom', interval: 'day' },
];
export const GROUPS = [
  { value: 'none', label: 'None' },
  { value: 'track', label: 'Track' },
  { value: 'playlist', label: 'Playlist' },
  { value: 'channel', label: 'Channel' },
  { value: 'app', label: 'App' },
  { value: 'device', label: 'Device' },
  { value: 'browser', label: 'Browser' },
  { value: 'os', label: 'Operating system' },
  { value: 'country', label: 'Country' },
];
export const FILTERS = ['track', 'playlist', 'channel', 'app', 'device', 'country'];
export const CHARTS = [
  { value: 'line', label: 'Line' },
  { value: 'area', label: 'Area' },
  { value: 'bar', label: 'Bars' },
  { value: 'pie', label: 'Pie' },
  { value: 'table', label: 'Table' },
];
// The breakdowns the analytics page shows beside its chart.
export const BREAKDOWNS = [
  { by: 'track', label: 'Top tracks' },
  { by: 'app', label: 'Apps' },
  { by: 'device', label: 'Devices' },
  { by: 'browser', label: 'Browsers' },
  { by: 'country', label: 'Countries' },
];
// Points a series may have before the page proposes a coarser interval (the server may
// refuse more; this keeps the chart readable).
export const MAX_POINTS = 800;
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const INTERVAL_MS = { hour: HOUR, day: DAY, week: 7 * DAY, month: 30 * DAY };

export const label = (list, value) => list.find((item) => item.value === value)?.label ?? value;

// ---------------------------------------------------------------- time zones

// {year, month (1-12), day, hour, minute, second} of the instant `ms` in `tz`.
export function wallTime(ms, tz) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(ms));
  const get = (type) => Number(parts.find((part) => part.type === type).value);
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
    second: get('second'),
  };
}

// The instant (ms) when the wall clock in `tz` shows this date and time. A time skipped by a
// daylight-saving change resolves to the instant after the gap; a repeated one to the first.
export function zonedToUtc({ year, month, day, hour = 0, minute = 0, second = 0 }, tz) {
  const naive = Date.UTC(year, month - 1, day, hour, minute, second);
  let guess = naive;
  // The offset at the guess, applied twice, converges for every real zone.
  for (let i = 0; i < 3; i += 1) {
    const w = wallTime(guess, tz);
    const shown = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
    const next = guess + (naive - shown);
    if (next === guess) break;
    guess = next;
  }
  return guess;
}

// 'YYYY-MM-DD' of the instant in tz (the value of an <input type="date">).
export function dateInput(ms, tz) {
  const w = wallTime(ms, tz);
  return `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
}

function parseDate(text) {
  const found = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || '');
  return found ? { year: Number(found[1]), month: Number(found[2]), day: Number(found[3]) } : null;
}

// The range of a preset at `now` in `tz`: {from, to} in ms (to exclusive), or an error
// text for a custom range that cannot be used (the dates of a custom range are whole
// days in tz, both included).
export function resolveRange({ preset, start, end }, tz, now = Date.now()) {
  if (preset === '24h') return { from: now - DAY, to: now };
  if (preset === '7d') return { from: now - 7 * DAY, to: now };
  if (preset === '30d') return { from: now - 30 * DAY, to: now };
  if (preset === 'month') {
    const w = wallTime(now, tz);
    return { from: zonedToUtc({ year: w.year, month: w.month, day: 1 }, tz), to: now };
  }
  const first = parseDate(start);
  const last = parseDate(end);
  if (!first || !last) return { error: 'Choose the first and last day of the range.' };
  const from = zonedToUtc(first, tz);
  // The day after the last one, at midnight (Date.UTC rolls the month over).
  const after = new Date(Date.UTC(last.year, last.month - 1, last.day + 1));
  const to = zonedToUtc({ year: after.getUTCFullYear(), month: after.getUTCMonth() + 1, day: after.getUTCDate() }, tz);
  if (to <= from) return { error: 'The last day comes before the first.' };
  return { from, to };
}

// How many points a range has at an interval (roughly, for months).
export function pointCount({ from, to }, interval) {
  return Math.ceil((to - from) / INTERVAL_MS[interval]);
}

// The finest interval that keeps the range under MAX_POINTS points, at or above `wanted`.
export function fitInterval(range, wanted) {
  const order = INTERVALS.map((item) => item.value);
  for (const interval of order.slice(Math.max(0, order.indexOf(wanted)))) {
    if (pointCount(range, interval) <= MAX_POINTS) return interval;
  }
  return 'month';
}

// ---------------------------------------------------------------- queries

// The query of /analytics/report for a view: empty filters are left out.
export function reportQuery({ metric, interval, group_by = 'none', filters = {}, limit }, range, tz, extra = {}) {
  const query = {
    metric,
    interval,
    group_by,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    tz,
    limit,
    ...extra,
  };
  for (const name of FILTERS) {
    const value = (filters[name] || '').trim();
    if (value) query[name] = value;
  }
  return query;
}

// ---------------------------------------------------------------- series

// The report's series as {labels (times as ms), series: [{key, label, total, values}]}:
// every series on the union of the times (a missing point is 0: nothing was counted).
export function alignSeries(series) {
  const times = [...new Set(series.flatMap((one) => (one.points || []).map((point) => Date.parse(point.t))))].sort(
    (a, b) => a - b,
  );
  const index = new Map(times.map((t, i) => [t, i]));
  return {
    times,
    series: series.map((one) => {
      const values = times.map(() => 0);
      for (const point of one.points || []) values[index.get(Date.parse(point.t))] = point.value ?? 0;
      return { key: one.key, label: one.label || one.key, total: one.total, values };
    }),
  };
}

// The range just before `range`, as long (what "the previous period" means).
export function previousRange(range) {
  return { from: range.from - (range.to - range.from), to: range.from };
}

// The previous period's report, summed over its series, placed under the current period's
// points by position (the nth point of the previous period compares with the nth now).
export function previousValues(previous, length) {
  if (!previous || !Array.isArray(previous.series) || !previous.series.length) return null;
  const { series } = alignSeries(previous.series);
  const sums = Array.from({ length }, (_, i) => series.reduce((sum, one) => sum + (one.values[i] ?? 0), 0));
  return sums;
}

// Trailing moving average over `window` points (fewer at the start: the mean of those seen).
export function movingAverage(values, window) {
  const out = [];
  let sum = 0;
  for (let i = 0; i < values.length; i += 1) {
    sum += values[i] ?? 0;
    if (i >= window) sum -= values[i - window] ?? 0;
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

// The change from `before` to `now` as a fraction (0.25 = +25 %), or null when there was
// nothing before to compare with.
export function change(now, before) {
  if (before === null || before === undefined || now === null || now === undefined) return null;
  if (before === 0) return now === 0 ? 0 : null;
  return (now - before) / before;
}

export function formatChange(fraction) {
  if (fraction === null) return 'no previous data';
  const percent = Math.round(fraction * 1000) / 10;
  return `${percent > 0 ? '+' : percent < 0 ? '−' : '±'}${Math.abs(percent)} %`;
}

// A figure of a metric as people read it: listening time in hours and minutes, completion
// (a fraction of the track listened to) as a percentage, counts with separators.
export function formatValue(metric, value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (metric === 'listening_seconds') {
    const minutes = Math.round(value / 60);
    const hours = Math.floor(minutes / 60);
    return hours ? `${hours.toLocaleString('en')} h ${minutes % 60} min` : `${minutes} min`;
  }
  if (metric === 'completion') return `${Math.round(value * 1000) / 10} %`;
  return Math.round(value * 100) / 100 === Math.round(value)
    ? Math.round(value).toLocaleString('en')
    : (Math.round(value * 10) / 10).toLocaleString('en');
}

// A point's time as a label for its interval, in tz.
export function formatBucket(ms, interval, tz) {
  const options = { timeZone: tz };
  if (interval === 'hour')
    Object.assign(options, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  else if (interval === 'month') Object.assign(options, { year: 'numeric', month: 'short' });
  else Object.assign(options, { year: 'numeric', month: 'short', day: 'numeric' });
  const text = new Intl.DateTimeFormat('en-GB', options).format(new Date(ms));
  return interval === 'week' ? `Week of ${text}` : text;
}

// The finer interval and range a click on a point zooms into (null at the finest).
export function zoomInto(ms, interval) {
  const finer = { month: 'day', week: 'day', day: 'hour' }[interval];
  if (!finer) return null;
  const span = { month: 31 * DAY, week: 7 * DAY, day: DAY }[interval];
  return { interval: finer, from: ms, to: ms + span };
}

// Breakdown rows [{key, label, value}] from a report grouped by something (series totals),
// largest first.
export function breakdownRows(report) {
  return (report?.series || [])
    .map((one) => ({
      key: one.key,
      label: one.label || one.key || '(unknown)',
      value: one.total ?? (one.points || []).reduce((sum, point) => sum + (point.value ?? 0), 0),
    }))
    .sort((a, b) => b.value - a.value);
}

// ---------------------------------------------------------------- dashboard grid

export const COLUMNS = 12;
export const MIN_WIDTH = 3;
export const MAX_HEIGHT = 4;

const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

// Views in reading order: by row, then column.
export function reading(views) {
  return [...views].sort((a, b) => a.position.y - b.position.y || a.position.x - b.position.x);
}

// No two views overlap and none floats above a gap: `first` (an id) keeps its place, the
// views it covers move below it, then every view rises as far as it can.
export function settle(views, first = null) {
  const placed = [];
  const order = reading(views);
  const lead = order.find((view) => view.id === first);
  for (const view of lead ? [lead, ...order.filter((one) => one !== lead)] : order) {
    const position = { ...view.position };
    for (;;) {
      const hits = placed.filter((other) => overlaps(position, other.position));
      if (!hits.length) break;
      position.y = Math.max(...hits.map((other) => other.position.y + other.position.h));
    }
    placed.push({ ...view, position });
  }
  const risen = [];
  for (const view of reading(placed)) {
    const position = { ...view.position };
    while (position.y > 0 && !risen.some((other) => overlaps({ ...position, y: position.y - 1 }, other.position))) {
      position.y -= 1;
    }
    risen.push({ ...view, position });
  }
  // The caller's order is kept: only positions change.
  const byId = new Map(risen.map((view) => [view.id, view]));
  return views.map((view) => byId.get(view.id));
}

const STEPS = { up: [0, -1], down: [0, 1], left: [-1, 0], right: [1, 0] };

// Moves a view one step; where another view stands there, the two change places.
export function moveView(views, id, direction) {
  const me = views.find((view) => view.id === id);
  if (!me) return views;
  const [dx, dy] = STEPS[direction];
  const p = me.position;
  const target = { ...p, x: Math.min(Math.max(p.x + dx, 0), COLUMNS - p.w), y: Math.max(p.y + dy, 0) };
  if (target.x === p.x && target.y === p.y) return views;
  const hits = views.filter((view) => view.id !== id && overlaps(target, view.position));
  const moved = new Map();
  if (hits.length) {
    // The nearest view in that direction swaps with this one.
    const near = hits.sort((a, b) =>
      dx
        ? dx < 0
          ? b.position.x - a.position.x
          : a.position.x - b.position.x
        : dy < 0
          ? b.position.y - a.position.y
          : a.position.y - b.position.y,
    )[0];
    const q = near.position;
    if (dx < 0) {
      moved.set(id, { ...p, x: q.x });
      moved.set(near.id, { ...q, x: Math.min(q.x + p.w, COLUMNS - q.w) });
    } else if (dx > 0) {
      moved.set(near.id, { ...q, x: p.x });
      moved.set(id, { ...p, x: Math.min(p.x + q.w, COLUMNS - p.w) });
    } else if (dy < 0) {
      moved.set(id, { ...p, y: q.y });
      moved.set(near.id, { ...q, y: q.y + p.h });
    } else {
      moved.set(near.id, { ...q, y: p.y });
      moved.set(id, { ...p, y: p.y + q.h });
    }
  } else moved.set(id, target);
  const next = views.map((view) => (moved.has(view.id) ? { ...view, position: moved.get(view.id) } : view));
  return settle(next, id);
}

// Wider/narrower (dw) or taller/shorter (dh) by one step, within the grid's limits.
export function resizeView(views, id, dw, dh) {
  const me = views.find((view) => view.id === id);
  if (!me) return views;
  const p = me.position;
  const w = Math.min(Math.max(p.w + dw, MIN_WIDTH), COLUMNS);
  const h = Math.min(Math.max(p.h + dh, 1), MAX_HEIGHT);
  if (w === p.w && h === p.h) return views;
  const x = Math.min(p.x, COLUMNS - w);
  return settle(
    views.map((view) => (view.id === id ? { ...view, position: { x, y: p.y, w, h } } : view)),
    id,
  );
}

// The first free place (row by row, left to right) for a view of w×h.
export function freePlace(views, w = 6, h = 2) {
  for (let y = 0; ; y += 1) {
    for (let x = 0; x + w <= COLUMNS; x += 1) {
      const position = { x, y, w, h };
      if (!views.some((view) => overlaps(position, view.position))) return position;
    }
  }
}

// A new view's id: short, random, unique within the dashboard.
export function newId(views) {
  for (;;) {
    const id = `v${Math.random().toString(36).slice(2, 8)}`;
    if (!views.some((view) => view.id === id)) return id;
  }
}
