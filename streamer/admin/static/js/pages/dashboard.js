// The dashboard: jobs (live), request and cache figures with plots, storage per library,
// recent errors and recent audit entries, each shown to the roles that may read it.
//
// Figures are polled (every few seconds while the tab is visible, not at all while it is
// hidden); jobs follow the live `job` events and are re-read when a job changes state.
// The request and cache counters the server reports are totals since it started, so
// rates come from the difference between two readings kept in a bounded window here.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { useEventStatus, useEvents } from '../events.js';
import { useDebounced, usePoll, useVisible } from '../hooks.js';
import { html } from '../html.js';
import { newestOnly } from '../job_lists.js';
import { BarPlot, LinePlot } from '../plots.js';
import { can } from '../session.js';
import {
  ErrorMessage,
  formatBytes,
  formatDate,
  formatTime,
  Loading,
  ProgressBar,
  problemText,
  toast,
  useTitle,
} from '../ui.js';

const FIGURES_EVERY = 5000; // requests and cache
const WINDOW = 60; // readings kept: five minutes at one each five seconds
const JOBS_EVERY_LIVE = 30000; // with live events a re-read now and then is enough
const JOBS_EVERY_POLLING = 5000; // without them, poll
const SLOW_EVERY = 30000; // storage, libraries, audit
const STAFF = new Set(['admin', 'editor']); // who may read /stats (the server decides)

// ---------------------------------------------------------------- track names

// Job rows name a track by id; the titles come from /tracks/{id}, once per track.
const trackNames = new Map(); // id -> {title, path} | null (gone) | Promise

function useTrackNames(ids) {
  const [, setVersion] = useState(0);
  const key = ids.join(',');
  useEffect(() => {
    let live = true;
    const missing = ids.filter((id) => !trackNames.has(id));
    for (const id of missing) {
      const pending = get(`/tracks/${encodeURIComponent(id)}`).then(
        (track) => trackNames.set(id, { title: track.title, path: track.path }),
        () => trackNames.set(id, null),
      );
      trackNames.set(id, pending);
    }
    if (missing.length) {
      Promise.all(missing.map((id) => trackNames.get(id))).then(() => live && setVersion((v) => v + 1));
    }
    return () => {
      live = false;
    };
  }, [key]);
  return (id) => {
    const found = trackNames.get(id);
    if (found && !(found instanceof Promise)) return found.title || found.path;
    return found === null ? `Deleted track ${id.slice(0, 8)}` : `Track ${id.slice(0, 8)}…`;
  };
}

// ---------------------------------------------------------------- formatting

function ago(value) {
  if (!value) return '–';
  const seconds = Math.round((Date.now() - new Date(value).getTime()) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return formatDate(value);
}

function When({ value }) {
  if (!value) return html`<span>–</span>`;
  return html`<time datetime=${value} title=${formatDate(value)}>${ago(value)}</time>`;
}

const percent = (value) =>
  value === null || value === undefined ? '–' : `${(value * 100).toFixed(value >= 0.995 || value === 0 ? 0 : 1)} %`;
const perSecond = (value) =>
  value === null || value === undefined ? '–' : value >= 100 ? value.toFixed(0) : value.toFixed(1);
const milliseconds = (seconds) =>
  seconds === null || seconds === undefined
    ? '–'
    : seconds >= 1
      ? `${seconds.toFixed(2)} s`
      : `${(seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0)} ms`;
// ---------------------------------------------------------------- figures from readings

// Requests per second and the segment cache's hit ratio between consecutive readings; a
// counter that went down (the server restarted) starts a new line.
function series(readings) {
  const rate = [];
  const ratio = [];
  for (let i = 1; i < readings.length; i += 1) {
    const a = readings[i - 1];
    const b = readings[i];
    const seconds = (b.t - a.t) / 1000;
    if (a.stats && b.stats && seconds > 0) {
      const delta = b.stats.requests - a.stats.requests;
      rate.push({ t: b.t, v: delta >= 0 ? delta / seconds : null });
    }
    if (a.cache && b.cache) {
      const served = (c) => c.tiers.memory.hits + c.tiers.memory.misses;
      const served_ = served(b.cache) - served(a.cache);
      const reads = b.cache.storage.reads - a.cache.storage.reads;
      ratio.push({ t: b.t, v: served_ > 0 && reads >= 0 ? Math.max(0, served_ - reads) / served_ : null });
    }
  }
  return { rate, ratio };
}

const STATUS_KIND = (status) => (/^[1-5]\d\d$/.test(status) ? `${status[0]}xx` : 'other');

// ---------------------------------------------------------------- sections

function Tiles({ jobs, rate, ratio, storage }) {
  const latest = (points) => {
    for (let i = points.length - 1; i >= 0; i -= 1) if (points[i].v !== null) return points[i].v;
    return null;
  };
  const total = storage ? storage.libraries.reduce((sum, lib) => sum + lib.total_bytes, 0) : null;
  const tiles = [
    { label: 'Running jobs', value: jobs ? jobs.running.total : '–' },
    { label: 'Queued jobs', value: jobs ? jobs.queued.total : '–' },
    { label: 'Failed jobs', value: jobs ? jobs.failed.total : '–', alert: jobs && jobs.failed.total > 0 },
    rate && { label: 'Requests per second', value: perSecond(latest(rate)) },
    { label: 'Segment cache hit ratio', value: percent(latest(ratio)) },
    { label: 'Storage used', value: total === null ? '–' : formatBytes(total) },
  ].filter(Boolean);
  return html`<ul class="tiles" aria-label="Summary">
    ${tiles.map(
      (tile) => html`<li key=${tile.label} class=${`tile${tile.alert ? ' tile-alert' : ''}`}>
        <span class="tile-label">${tile.label}</span>
        <span class="tile-value">${tile.value}</span>
      </li>`,
    )}
  </ul>`;
}

function JobTitle({ job, name }) {
  return html`<a href=${`/admin/tracks/${job.track_id}`}>${name(job.track_id)}</a>`;
}

function RunningJobs({ jobs, overlay, name }) {
  if (!jobs.items.length) return html`<p class="muted">No job is running.</p>`;
  return html`<ul class="job-list">
    ${jobs.items.map((job) => {
      const live = overlay[job.id];
      const progress = live ? live.progress : job.progress;
      return html`<li key=${job.id} class="job" data-job=${job.id}>
        <div class="row">
          <${JobTitle} job=${job} name=${name} />
          <span class="muted">${job.kind}, attempt ${job.attempts} of ${job.max_attempts}, started <${When} value=${job.started_at} /></span>
        </div>
        <${ProgressBar} value=${progress} label=${`${job.kind} of ${name(job.track_id)}`} />
      </li>`;
    })}
  </ul>`;
}

function FailedJobs({ jobs, name, canRetry, onRetry, retrying, errors }) {
  if (!jobs.items.length) return html`<p class="muted">No failed jobs.</p>`;
  return html`<ul class="job-list">
    ${jobs.items.map(
      (job) => html`<li key=${job.id} class="job job-failed" data-job=${job.id}>
        <div class="row">
          <span class="badge badge-failed">failed</span>
          <${JobTitle} job=${job} name=${name} />
          <span class="muted">${job.kind}, <${When} value=${job.finished_at || job.updated_at} /></span>
          <span class="spacer"></span>
          ${
            canRetry &&
            html`<button type="button" class="small" disabled=${retrying === job.id} onClick=${() => onRetry(job)}
            aria-label=${`Retry the ${job.kind} of ${name(job.track_id)}`}>Retry</button>`
          }
        </div>
        <p class="job-reason">${job.error || 'No reason was recorded.'}</p>
        ${
          job.stderr_tail &&
          html`<details>
          <summary>ffmpeg output (last lines)</summary>
          <pre class="stderr">${job.stderr_tail}</pre>
        </details>`
        }
        <${ErrorMessage} error=${errors[job.id]} />
      </li>`,
    )}
  </ul>`;
}

function SucceededJobs({ jobs, name }) {
  if (!jobs.items.length) return html`<p class="muted">No job has finished yet.</p>`;
  return html`<ul class="job-list">
    ${jobs.items.map((job) => {
      const took =
        job.started_at && job.finished_at ? (new Date(job.finished_at) - new Date(job.started_at)) / 1000 : null;
      return html`<li key=${job.id} class="job row" data-job=${job.id}>
        <span class="badge badge-succeeded">succeeded</span>
        <${JobTitle} job=${job} name=${name} />
        <span class="muted">${job.kind}${took !== null ? `, took ${took.toFixed(1)} s` : ''}, <${When} value=${job.finished_at} /></span>
      </li>`;
    })}
  </ul>`;
}

function JobsSection({ user, poll, overlay, onRetried }) {
  const jobs = poll.data;
  const ids = jobs
    ? [...new Set(['running', 'failed', 'succeeded'].flatMap((k) => jobs[k].items.map((j) => j.track_id)))]
    : [];
  const name = useTrackNames(ids);
  const [retrying, setRetrying] = useState(null);
  const [errors, setErrors] = useState({});
  const retry = async (job) => {
    setRetrying(job.id);
    setErrors((e) => ({ ...e, [job.id]: null }));
    try {
      await post(`/jobs/${job.id}/retry`);
      toast(`The ${job.kind} of ${name(job.track_id)} is queued again.`, 'success');
      onRetried();
    } catch (error) {
      setErrors((e) => ({ ...e, [job.id]: error }));
      toast(`Could not retry: ${problemText(error)}`, 'error');
    } finally {
      setRetrying(null);
    }
  };
  return html`<section class="card dash-wide stack" aria-labelledby="jobs-heading">
    <h2 id="jobs-heading">Jobs</h2>
    <${ErrorMessage} error=${poll.error} />
    ${
      !jobs
        ? html`<${Loading} label="Loading jobs…" />`
        : html`<div class="jobs-grid">
          <section aria-labelledby="running-heading">
            <h3 id="running-heading">Running (${jobs.running.total})</h3>
            <${RunningJobs} jobs=${jobs.running} overlay=${overlay} name=${name} />
            <p class="muted">${jobs.queued.total} queued.</p>
          </section>
          <section aria-labelledby="failed-heading" id="failed-jobs">
            <h3 id="failed-heading">Failed (${jobs.failed.total})</h3>
            <${FailedJobs} jobs=${jobs.failed} name=${name} canRetry=${can(user, 'write')} onRetry=${retry} retrying=${retrying} errors=${errors} />
          </section>
          <section aria-labelledby="succeeded-heading">
            <h3 id="succeeded-heading">Recently succeeded</h3>
            <${SucceededJobs} jobs=${jobs.succeeded} name=${name} />
          </section>
        </div>`
    }
  </section>`;
}

function RequestsSection({ poll, readings, rate }) {
  const stats = poll.data?.stats;
  const span = WINDOW * FIGURES_EVERY;
  const statusRows = stats
    ? Object.entries(stats.by_status).map(([status, count]) => ({
        label: status === '0' ? 'none sent' : status,
        parts: [{ name: 'responses', value: count, kind: STATUS_KIND(status) }],
      }))
    : [];
  return html`<section class="card stack" aria-labelledby="requests-heading">
    <h2 id="requests-heading">Requests</h2>
    <${ErrorMessage} error=${poll.error} />
    ${
      !stats
        ? html`<${Loading} label="Loading request statistics…" />`
        : html`
          <${LinePlot} title="Requests per second" unit="Requests per second" points=${rate} span=${span} format=${perSecond} />
          <dl class="figures">
            <div><dt>Requests since start</dt><dd>${stats.requests.toLocaleString()}</dd></div>
            <div><dt>In flight</dt><dd>${stats.in_flight}</dd></div>
            <div><dt>Bytes sent</dt><dd>${formatBytes(stats.bytes_sent)}</dd></div>
            <div><dt>Server errors (5xx)</dt><dd>${(stats.by_class['5xx'] || 0).toLocaleString()}</dd></div>
          </dl>
          <${BarPlot} title="Responses by status since the server started" rows=${statusRows} format=${(n) => n.toLocaleString()} empty="No requests yet." />
          <${RouteTable} routes=${stats.routes} />
          ${readings < 2 && html`<p class="muted">The request rate appears after the next reading.</p>`}
        `
    }
  </section>`;
}

// Tables that may scroll sideways on a phone are focusable regions, so a keyboard can
// scroll them (none of them holds a control that would take the focus otherwise).
function RouteTable({ routes }) {
  const [all, setAll] = useState(false);
  const shown = all ? routes : routes.slice(0, 8);
  if (!routes.length) return null;
  return html`<div class="stack">
    <div class="table-wrap" tabindex="0" role="region" aria-label="Latency by route">
      <table>
        <caption class="visually-hidden">Latency by route since the server started</caption>
        <thead>
          <tr><th scope="col">Route</th><th scope="col" class="num">Requests</th><th scope="col" class="num">p50</th><th scope="col" class="num">p99</th><th scope="col" class="num">Sent</th></tr>
        </thead>
        <tbody>
          ${shown.map(
            (route) => html`<tr key=${route.route}>
              <td><code>${route.route}</code></td>
              <td class="num">${route.requests.toLocaleString()}</td>
              <td class="num">${milliseconds(route.p50_seconds)}</td>
              <td class="num">${milliseconds(route.p99_seconds)}</td>
              <td class="num">${formatBytes(route.bytes_sent)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${
      routes.length > 8 &&
      html`<button type="button" class="link small" onClick=${() => setAll(!all)} aria-expanded=${all}>
      ${all ? 'Show the busiest routes only' : `Show all ${routes.length} routes`}
    </button>`
    }
  </div>`;
}

function CacheSection({ poll, ratio }) {
  const cache = poll.data?.cache;
  const span = WINDOW * FIGURES_EVERY;
  return html`<section class="card stack" aria-labelledby="cache-heading">
    <h2 id="cache-heading">Segment cache</h2>
    ${
      !cache
        ? poll.error
          ? html`<${ErrorMessage} error=${poll.error} />`
          : html`<${Loading} label="Loading cache statistics…" />`
        : html`
          <${ErrorMessage} error=${poll.error} />
          <${LinePlot} title="Segment cache hit ratio" unit="Hit ratio" points=${ratio} span=${span} format=${percent} max=${1} />
          <dl class="figures">
            <div><dt>Hit ratio since start</dt><dd>${percent(cache.hit_ratio)}</dd></div>
            <div><dt>Memory hits / misses</dt><dd>${cache.tiers.memory.hits.toLocaleString()} / ${cache.tiers.memory.misses.toLocaleString()}</dd></div>
            <div><dt>Held in memory</dt><dd>${formatBytes(cache.tiers.memory.held_bytes)}</dd></div>
            <div><dt>Storage reads</dt><dd>${cache.storage.reads.toLocaleString()} (${formatBytes(cache.storage.bytes)})</dd></div>
            ${
              cache.tiers.redis.hits + cache.tiers.redis.misses + cache.tiers.redis.errors > 0 &&
              html`<div><dt>Redis hit ratio</dt><dd>${percent(cache.tiers.redis.hit_ratio)}${cache.tiers.redis.errors ? `, ${cache.tiers.redis.errors} errors` : ''}</dd></div>`
            }
          </dl>
        `
    }
  </section>`;
}

function StorageSection({ poll }) {
  const storage = poll.data;
  const rows = storage
    ? storage.libraries.map((lib) => ({
        label: lib.name,
        parts: [
          { name: 'originals', value: lib.originals_bytes, kind: 'originals' },
          { name: 'renditions and covers', value: lib.derived_bytes, kind: 'derived' },
        ],
      }))
    : [];
  return html`<section class="card stack" aria-labelledby="storage-heading">
    <h2 id="storage-heading">Storage</h2>
    <${ErrorMessage} error=${poll.error} />
    ${
      !storage
        ? html`<${Loading} label="Loading storage use…" />`
        : html`
          <${BarPlot} title="Storage per library" rows=${rows} format=${formatBytes} empty="No library yet."
            legend=${[{ name: 'Originals', kind: 'originals' }, { name: 'Renditions and covers', kind: 'derived' }]} />
          ${
            storage.libraries.length > 0 &&
            html`<div class="table-wrap" tabindex="0" role="region" aria-label="Storage by library">
            <table>
              <thead><tr><th scope="col">Library</th><th scope="col" class="num">Tracks</th><th scope="col" class="num">Originals</th><th scope="col" class="num">Renditions</th><th scope="col" class="num">Total</th></tr></thead>
              <tbody>
                ${storage.libraries.map(
                  (lib) => html`<tr key=${lib.library_id}>
                    <th scope="row">${lib.name}</th>
                    <td class="num">${lib.tracks.toLocaleString()}</td>
                    <td class="num">${formatBytes(lib.originals_bytes)}</td>
                    <td class="num">${formatBytes(lib.derived_bytes)}</td>
                    <td class="num">${formatBytes(lib.total_bytes)}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`
          }
        `
    }
  </section>`;
}

// In-page links would go through the router, which follows paths, not fragments.
function showFailedJobs() {
  const heading = document.getElementById('failed-heading');
  if (!heading) return;
  heading.scrollIntoView({ block: 'start' });
  heading.setAttribute('tabindex', '-1');
  heading.focus({ preventScroll: true });
}

function ErrorGroups({ groups, isAdmin }) {
  return html`<div class="stack">
    <h3>Errors by type and place on this node</h3>
    <div class="table-wrap" tabindex="0" role="region" aria-label="Errors by type and place">
      <table>
        <thead><tr><th scope="col">Error</th><th scope="col">Where</th><th scope="col" class="num">Count</th><th scope="col">First seen</th><th scope="col">Last seen</th><th scope="col">Latest request id</th></tr></thead>
        <tbody>
          ${groups.slice(0, 20).map(
            (g) => html`<tr key=${g.type + g.place}>
              <td><code>${g.type}</code>${isAdmin && g.message ? html`<div class="small muted">${g.message}</div>` : null}</td>
              <td><code>${g.place}</code>${isAdmin && g.where ? html`<div class="small muted">${g.where}</div>` : null}</td>
              <td class="num">${g.count}</td>
              <td><${When} value=${g.first_seen} /></td>
              <td><${When} value=${g.last_seen} /></td>
              <td>${g.request_id ? html`<code>${g.request_id}</code>` : '–'}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
  </div>`;
}

function ErrorsSection({ jobs, libraries, stats, groups, staff, isAdmin }) {
  const failedJobs = jobs ? jobs.failed : null;
  const failedScans = libraries ? libraries.filter((lib) => lib.last_scan && lib.last_scan.state === 'failed') : [];
  const serverErrors = stats ? stats.recent_errors : [];
  const grouped = groups ? groups.groups : [];
  const nothing = failedJobs && !failedJobs.total && !failedScans.length && !serverErrors.length && !grouped.length;
  return html`<section class="card stack" aria-labelledby="errors-heading">
    <h2 id="errors-heading">Recent errors</h2>
    ${nothing && html`<p class="muted">No recent errors.</p>`}
    ${
      failedJobs &&
      failedJobs.total > 0 &&
      html`<p><button type="button" class="link inline" onClick=${showFailedJobs}>${failedJobs.total} failed ${failedJobs.total === 1 ? 'job' : 'jobs'}</button>; the newest: ${failedJobs.items[0].error || 'no reason recorded'}.</p>`
    }
    ${
      failedScans.length > 0 &&
      html`<div>
      <h3>Failed scans</h3>
      <ul class="plain-list">
        ${failedScans.map(
          (lib) =>
            html`<li key=${lib.id}><strong>${lib.name}</strong>: ${lib.last_scan.error || 'no reason recorded'} (<${When} value=${lib.last_scan_at} />)</li>`,
        )}
      </ul>
      <p class="muted">Scan them again from the <a href="/admin/libraries">libraries page</a>.</p>
    </div>`
    }
    ${
      staff &&
      serverErrors.length > 0 &&
      html`<div class="stack">
      <h3>Server errors (5xx) on this node</h3>
      <div class="table-wrap" tabindex="0" role="region" aria-label="Server errors">
        <table>
          <thead><tr><th scope="col">When</th><th scope="col">Status</th><th scope="col">Request</th><th scope="col">Request id</th></tr></thead>
          <tbody>
            ${serverErrors.slice(0, 10).map(
              (e) => html`<tr key=${e.request_id + e.at}>
                <td><${When} value=${e.at} /></td>
                <td><span class="badge badge-failed">${e.status}</span></td>
                <td><code>${e.method} ${isAdmin && e.path ? e.path : e.route}</code></td>
                <td><code>${e.request_id}</code></td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </div>`
    }
    ${staff && grouped.length > 0 && html`<${ErrorGroups} groups=${grouped} isAdmin=${isAdmin} />`}
    ${
      staff &&
      (serverErrors.length > 0 || grouped.length > 0) &&
      html`<p class="muted">
        Search the server's logs for a request id to see what went wrong (<code>streamer logs</code> groups a log file's errors); the audit log lists the changes a request made.
        ${groups?.sentry ? ' Errors also go to Sentry.' : ''}
      </p>`
    }
    ${staff && !stats && html`<${Loading} label="Loading server errors…" />`}
  </section>`;
}

function AuditSection({ poll }) {
  const page = poll.data;
  return html`<section class="card dash-wide stack" aria-labelledby="audit-heading">
    <div class="row">
      <h2 id="audit-heading">Recent audit entries</h2>
      <span class="spacer"></span>
      <a class="small" href="/api/v1/audit?format=csv" download="audit.csv">Export all as CSV</a>
    </div>
    <${ErrorMessage} error=${poll.error} />
    ${
      !page
        ? html`<${Loading} label="Loading audit entries…" />`
        : !page.items.length
          ? html`<p class="muted">Nothing recorded yet.</p>`
          : html`<div class="table-wrap" tabindex="0" role="region" aria-label="Audit entries">
            <table>
              <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col" class="hide-phone">From</th></tr></thead>
              <tbody>
                ${page.items.map(
                  (entry) => html`<tr key=${entry.id}>
                    <td><${When} value=${entry.at} /></td>
                    <td>${entry.actor_name || entry.actor_id || '–'} <span class="muted">(${entry.actor_type})</span></td>
                    <td><code>${entry.action}</code></td>
                    <td>${entry.target_type}${entry.target_id ? html` <code>${entry.target_id.slice(0, 12)}</code>` : ''}</td>
                    <td class="hide-phone">${entry.ip || '–'}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`
    }
  </section>`;
}

// ---------------------------------------------------------------- the page

async function loadJobs() {
  const page = (status, limit) => get('/jobs', { query: { status, limit } });
  const [running, queued, failed, succeeded] = await Promise.all([
    page('running', 20),
    page('queued', 1), // the count is what is shown
    page('failed', 10),
    page('succeeded', 6),
  ]);
  return newestOnly({ running, queued, failed, succeeded });
}

export default function Dashboard({ user }) {
  useTitle('Dashboard');
  const staff = STAFF.has(user.role);
  const isAdmin = can(user, 'admin');
  const visible = useVisible();
  const eventStatus = useEventStatus();

  // Requests and cache: a reading every few seconds, the last WINDOW kept for the plots.
  const [readings, setReadings] = useState([]);
  const figures = usePoll(async () => {
    const [stats, cache] = await Promise.all([staff ? get('/stats') : null, get('/cache/stats')]);
    const reading = { t: stats ? Date.parse(stats.at) : Date.now(), stats, cache };
    setReadings((list) => [...list.slice(1 - WINDOW), reading]);
    return reading;
  }, FIGURES_EVERY);
  const { rate, ratio } = useMemo(() => series(readings), [readings]);

  const jobs = usePoll(loadJobs, eventStatus === 'live' ? JOBS_EVERY_LIVE : JOBS_EVERY_POLLING);
  const storage = usePoll(() => get('/stats/storage'), SLOW_EVERY);
  const libraries = usePoll(() => get('/libraries'), SLOW_EVERY);
  const audit = usePoll(() => get('/audit', { query: { limit: 10 } }), SLOW_EVERY, { enabled: isAdmin });
  const errorGroups = usePoll(() => get('/stats/errors'), SLOW_EVERY, { enabled: staff });

  // Live job events: progress in place; a change of state re-reads the lists.
  const [overlay, setOverlay] = useState({});
  const reloadJobs = useDebounced(() => jobs.reload().then(() => setOverlay({})), 300);
  const reloadStorage = useDebounced(() => storage.reload(), 2000);
  const reloadLibraries = useDebounced(() => libraries.reload(), 500);
  useEvents(['job', 'scan'], ({ type, data }) => {
    if (type === 'reset') {
      // Events were missed beyond the server's backlog: read everything again.
      reloadJobs();
      reloadLibraries();
      reloadStorage();
      return;
    }
    if (type === 'scan') {
      if (data.state !== 'running') reloadLibraries();
      return;
    }
    const current = jobs.data;
    const shown = current?.running.items.find((job) => job.id === data.id);
    if (data.status === 'running' && shown) {
      setOverlay((o) => ({ ...o, [data.id]: { progress: data.progress, status: data.status } }));
    } else {
      reloadJobs();
    }
    if (data.status === 'succeeded') reloadStorage();
  });

  const reloadAll = () => {
    figures.reload();
    jobs.reload();
    storage.reload();
    libraries.reload();
    if (isAdmin) audit.reload();
    if (staff) errorGroups.reload();
  };
  const updated = figures.at || jobs.at;

  return html`<div class="dashboard stack">
    <div class="row dash-header">
      <h1>Dashboard</h1>
      <span class="spacer"></span>
      <p class="muted dash-status">
        ${!visible ? 'Paused while this tab is hidden.' : updated ? html`Updated ${formatTime(updated)}; refreshes every ${FIGURES_EVERY / 1000} s.` : 'Loading…'}
      </p>
      <button type="button" class="secondary small" onClick=${reloadAll}>Refresh now</button>
    </div>
    <${Tiles} jobs=${jobs.data} rate=${staff ? rate : null} ratio=${ratio} storage=${storage.data} />
    <div class="dash-grid">
      <${JobsSection} user=${user} poll=${jobs} overlay=${overlay} onRetried=${() => jobs.reload()} />
      ${staff && html`<${RequestsSection} poll=${figures} readings=${readings.length} rate=${rate} />`}
      <${CacheSection} poll=${figures} ratio=${ratio} />
      <${StorageSection} poll=${storage} />
      <${ErrorsSection} jobs=${jobs.data} libraries=${libraries.data} stats=${figures.data?.stats} groups=${errorGroups.data} staff=${staff} isAdmin=${isAdmin} />
      ${isAdmin && html`<${AuditSection} poll=${audit} />`}
    </div>
  </div>`;
}
