// A fake /api/v1 for the analytics pages, in the page (window.fetch replaced): reports
// made up from the query (deterministic), realtime figures, and dashboards kept in memory
// (or in sessionStorage, so a reload of the harness page finds them again), as contract F
// of the analytics work describes them. `requests` records every URL asked for.
export const requests = [];
const HOUR = 3600000;
const STEP = { hour: HOUR, day: 24 * HOUR, week: 7 * 24 * HOUR, month: 30 * 24 * HOUR };
const GROUP_KEYS = {
  track: ['Aurora', 'Bright Lights', 'Cascade'],
  playlist: ['Morning'],
  channel: ['Radio One'],
  app: ['Apple Podcasts', 'Spotify', 'Overcast'],
  device: ['phone', 'computer', 'smart_speaker'],
  browser: ['Chrome', 'Firefox', 'Safari'],
  os: ['iOS', 'Android'],
  country: ['DE', 'FR', 'US'],
};
const TRACKS = [
  { id: 't1', title: 'Aurora' },
  { id: 't2', title: 'Bright Lights' },
  { id: 't3', title: 'Cascade' },
];

function store() {
  return JSON.parse(sessionStorage.getItem('fake-dashboards') || '{}');
}
function keep(all) {
  sessionStorage.setItem('fake-dashboards', JSON.stringify(all));
}

function report(params) {
  const from = Date.parse(params.get('from'));
  const to = Date.parse(params.get('to'));
  const interval = params.get('interval') || 'day';
  const group = params.get('group_by') || 'none';
  const step = STEP[interval];
  // Completion is a fraction of a track; the rest are counts.
  const scale = params.get('metric') === 'completion' ? 0.02 : 1;
  const keys = group === 'none' ? ['all'] : GROUP_KEYS[group];
  const start = Math.floor(from / step) * step;
  const series = keys.map((key, k) => {
    const points = [];
    for (let t = start, i = 0; t < to && i < 1000; t += step, i += 1) {
      points.push({ t: new Date(t).toISOString(), value: (((i * 7 + k * 3) % 11) + (keys.length - k) * 2) * scale });
    }
    return { key, label: key === 'all' ? 'All' : key, total: points.reduce((s, p) => s + p.value, 0), points };
  });
  const total = series.reduce((s, one) => s + one.total, 0);
  return {
    metric: params.get('metric'),
    interval,
    from: params.get('from'),
    to: params.get('to'),
    tz: params.get('tz'),
    group_by: group,
    total,
    series,
    previous: params.get('compare') === 'previous' ? { total: Math.round(total * 0.8), series: [] } : null,
    moving_average: null,
  };
}

function json(status, body) {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': status < 400 ? 'application/json' : 'application/problem+json' },
  });
}

export function install({ failRealtime = false } = {}) {
  const original = window.fetch;
  let made = Object.keys(store()).length;
  window.fetch = async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input), location.href);
    if (!url.pathname.startsWith('/api/v1/')) return original(input, init);
    const method = (init.method || 'GET').toUpperCase();
    const path = url.pathname.slice('/api/v1'.length);
    requests.push(`${method} ${path}${url.search}`);
    if (path === '/analytics/report') return json(200, report(url.searchParams));
    if (path === '/analytics/realtime') {
      if (failRealtime) return json(404, { title: 'Not Found', status: 404 });
      const now = Date.now();
      return json(200, {
        listeners_now: 4,
        window_seconds: 300,
        by_subject: [{ kind: 'track', id: 't1', label: 'Aurora', listeners: 3 }],
        minutes: [0, 1, 2, 3, 4].map((i) => ({ t: new Date(now - (4 - i) * 60000).toISOString(), listeners: i })),
      });
    }
    if (path === '/tracks') return json(200, { items: TRACKS, total: 3, limit: 100, offset: 0 });
    if (path === '/playlists') return json(200, { items: [], total: 0, limit: 100, offset: 0 });
    if (path === '/channels') return json(404, { title: 'Not Found', status: 404 });
    const all = store();
    if (path === '/analytics/dashboards') {
      if (method === 'POST') {
        const body = JSON.parse(init.body);
        if (!body.name) return json(422, { title: 'Unprocessable', detail: 'name is required' });
        made += 1;
        const dashboard = { id: `d${made}`, owner: 'ada', name: body.name, views: body.views || [] };
        all[dashboard.id] = dashboard;
        keep(all);
        return json(201, dashboard);
      }
      return json(200, Object.values(all));
    }
    const found = /^\/analytics\/dashboards\/([^/]+)$/.exec(path);
    if (found) {
      const dashboard = all[found[1]];
      if (!dashboard) return json(404, { title: 'Not Found', detail: 'No such dashboard', status: 404 });
      if (method === 'PUT') {
        const body = JSON.parse(init.body);
        all[dashboard.id] = { ...dashboard, name: body.name, views: body.views };
        keep(all);
        return json(200, all[dashboard.id]);
      }
      if (method === 'DELETE') {
        delete all[dashboard.id];
        keep(all);
        return json(204, null);
      }
      return json(200, dashboard);
    }
    return json(404, { title: 'Not Found', status: 404 });
  };
  return () => {
    window.fetch = original;
  };
}

export function reset() {
  requests.length = 0;
  sessionStorage.removeItem('fake-dashboards');
}
