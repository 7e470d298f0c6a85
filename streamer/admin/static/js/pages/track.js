// The track page (/admin/tracks/:id): player with waveform and rendition switcher,
// metadata editing with conflicts shown, loudness, technical facts, renditions and the
// transcode job, live through the `job` and `track` events.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { useEventStatus, useEvents } from '../events.js';
import { html } from '../html.js';
import { can } from '../session.js';
import {
  ErrorMessage,
  formatBytes,
  formatDate,
  formatDuration,
  Loading,
  ProgressBar,
  problemText,
  toast,
  useTitle,
} from '../ui.js';
import { Editor } from './track-editor.js';
import { Player, renditionLabel, withToken } from './track-player.js';

const ACTIVE = new Set(['queued', 'running']);

function trackPath(id) {
  return `/tracks/${encodeURIComponent(id)}`;
}

export default function TrackPage({ id, user }) {
  const [state, setState] = useState({ loading: true, error: null, track: null, etag: null });
  const [signing, setSigning] = useState({ ready: false, token: null });
  const [points, setPoints] = useState(null);
  const [waveformError, setWaveformError] = useState(null);
  const [library, setLibrary] = useState(null);
  const [deleted, setDeleted] = useState(false);
  const writer = can(user, 'write');
  const { track, etag } = state;
  useTitle(track ? track.title || track.path : 'Track');

  const load = useCallback(async () => {
    try {
      const response = await get(trackPath(id), { raw: true });
      const data = await response.json();
      setState({ loading: false, error: null, track: data, etag: response.headers.get('ETag') });
      return data;
    } catch (error) {
      setState((s) => ({ ...s, loading: false, error }));
      return null;
    }
  }, [id]);

  useEffect(() => {
    setState({ loading: true, error: null, track: null, etag: null });
    load();
    // With URL signing on (the session says so), media and HLS URLs need a token; off,
    // they are public and /signed would only answer 409.
    if (!user.url_signing) {
      setSigning({ ready: true, token: null });
      return;
    }
    setSigning({ ready: false, token: null });
    get(`${trackPath(id)}/signed`).then(
      (signed) => setSigning({ ready: true, token: signed.token }),
      () => setSigning({ ready: true, token: null }),
    );
  }, [id, user.url_signing]);

  const libraryId = track?.library_id;
  useEffect(() => {
    if (!libraryId) return;
    get(`/libraries/${encodeURIComponent(libraryId)}`).then(setLibrary, () => setLibrary(null));
  }, [libraryId]);

  const waveformUrl = track?.urls.waveform;
  // Fetched again when a transcode ends: a new ladder measures new peaks.
  const waveformKey = track?.job ? `${track.job.id}:${track.job.status}` : '';
  useEffect(() => {
    if (!waveformUrl) {
      setPoints(null);
      return;
    }
    get(waveformUrl).then(
      (data) => {
        setPoints(data.points);
        setWaveformError(null);
      },
      (error) => setWaveformError(error),
    );
  }, [waveformUrl, waveformKey]);

  const setJob = (job) => setState((s) => (s.track ? { ...s, track: { ...s.track, job } } : s));

  // Live: the job's status and progress; the track's renditions, loudness and waveform
  // when its transcode ends; other people's edits (the editor decides what to do).
  useEvents(['job', 'track'], ({ type, data }) => {
    if (type === 'job' && data.track_id === id) {
      setState((s) => {
        if (!s.track) return s;
        const previous = s.track.job && s.track.job.id === data.id ? s.track.job : {};
        return { ...s, track: { ...s.track, job: { ...previous, ...data } } };
      });
      if (data.status === 'succeeded') load();
    } else if (type === 'track' && data.id === id) {
      if (data.action === 'deleted') setDeleted(true);
      else load();
    } else if (type === 'reset') {
      load(); // events were missed (a long absence): read the track again
    }
  });

  // Without the live stream (not connected yet, or a proxy that buffers it), follow an
  // active job by asking for it every two seconds.
  const live = useEventStatus() === 'live';
  const job = track?.job;
  const following = job && ACTIVE.has(job.status) && !live ? job.id : null;
  useEffect(() => {
    if (!following) return undefined;
    const timer = setInterval(async () => {
      try {
        const fresh = await get(`/jobs/${encodeURIComponent(following)}`);
        setJob(fresh);
        if (!ACTIVE.has(fresh.status)) load();
      } catch {
        // the next tick tries again; the page keeps its last known state
      }
    }, 2000);
    return () => clearInterval(timer);
  }, [following]);

  if (state.loading) return html`<${Loading} label="Loading the track…" />`;
  if (!track) {
    const missing = state.error && state.error.status === 404;
    return html`<p><a href="/admin/library">← Library</a></p>
      <h1>${missing ? 'No such track' : 'Track'}</h1>
      ${missing ? html`<p>There is no track with the id <code>${id}</code>, or you may not read it.</p>` : html`<${ErrorMessage} error=${state.error} />`}
      ${missing ? null : html`<button type="button" onClick=${load}>Try again</button>`}`;
  }

  const onSaved = (saved, newEtag) => setState((s) => ({ ...s, track: saved, etag: newEtag }));
  const subtitle = [track.artist, track.album].filter(Boolean).join(' · ');

  return html`<div class="track-page stack">
    <p class="breadcrumb"><a href="/admin/library">← Library</a></p>
    <header class="track-header">
      <${Cover} key=${signing.token || ''} track=${track} token=${signing.token} ready=${signing.ready} />
      <div class="track-heading">
        <h1>${track.title || track.path}</h1>
        ${subtitle ? html`<p class="track-subtitle">${subtitle}</p>` : null}
        <p class="row">
          <span class=${`badge badge-${track.status}`}>${track.status}</span>
          <span class="muted">${formatDuration(track.duration)}</span>
          ${track.labels.map((label) => html`<span key=${label} class="chip">${label}</span>`)}
        </p>
        ${track.error ? html`<p class="error">${track.error}</p>` : null}
      </div>
    </header>
    ${deleted ? html`<p class="notice" role="alert">This track was deleted by someone else. What you see is what it was.</p>` : null}
    ${state.error ? html`<p class="error" role="alert">Could not refresh the track: ${problemText(state.error)}</p>` : null}

    <section class="card" aria-labelledby="player-heading">
      <h2 id="player-heading">Player</h2>
      ${signing.ready ? html`<${Player} track=${track} token=${signing.token} points=${points} />` : html`<${Loading} label="Preparing the player…" />`}
      ${!waveformUrl ? html`<p class="muted small-text">No waveform yet: it is measured when the track is transcoded.</p>` : null}
      ${waveformError ? html`<p class="error small-text">The waveform could not be loaded: ${problemText(waveformError)}</p>` : null}
    </section>

    <div class="track-columns">
      <${Editor} key=${track.id} track=${track} etag=${etag} readOnly=${!writer} onSaved=${onSaved} />
      <div class="stack">
        <${Loudness} track=${track} />
        <${JobCard} track=${track} writer=${writer} onJob=${setJob} live=${live} />
        <${Facts} track=${track} library=${library} />
      </div>
    </div>
    <${Renditions} track=${track} token=${signing.token} />
  </div>`;
}

// Keyed by the token: a new token is a new URL, worth trying again after a failure.
function Cover({ track, token, ready }) {
  const [broken, setBroken] = useState(false);
  if (!track.urls.cover || broken || !ready) return html`<div class="cover cover-none" aria-hidden="true">♪</div>`;
  return html`<img class="cover" src=${withToken(track.urls.cover, token)} alt=${`Cover of ${track.title || track.path}`} onError=${() => setBroken(true)} />`;
}

function Loudness({ track }) {
  const loudness = track.loudness;
  const number = (value, unit) => (value === null || value === undefined ? '–' : `${value.toFixed(1)} ${unit}`);
  const gains = (track.renditions || []).filter((r) => r.gain_db);
  return html`<section class="card stack" aria-labelledby="loudness-heading">
    <h2 id="loudness-heading">Loudness</h2>
    ${
      loudness
        ? html`<dl class="facts loudness">
          <div><dt>Integrated</dt><dd>${number(loudness.integrated_lufs, 'LUFS')}</dd></div>
          <div><dt>True peak</dt><dd>${number(loudness.true_peak_dbtp, 'dBTP')}</dd></div>
          <div><dt>Loudness range</dt><dd>${number(loudness.range_lu, 'LU')}</dd></div>
        </dl>
        ${gains.length ? html`<p class="muted small-text">Renditions are normalised by ${gains[0].gain_db > 0 ? '+' : ''}${gains[0].gain_db.toFixed(1)} dB.</p>` : null}`
        : html`<p class="muted">Not measured yet: loudness (EBU R 128) is measured when the track is transcoded.</p>`
    }
  </section>`;
}

function JobCard({ track, writer, onJob, live }) {
  const job = track.job;
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(null);

  const act = async (label, request) => {
    setBusy(true);
    setMessage(null);
    try {
      const fresh = await request();
      onJob(fresh);
      setMessage({ kind: 'success', text: `${label}: the job is ${fresh.status}.` });
      toast(`${label}: ${fresh.status}`, 'success');
    } catch (error) {
      const text = `${label} failed: ${problemText(error)}`;
      setMessage({ kind: 'error', text });
      toast(text, 'error');
    } finally {
      setBusy(false);
    }
  };
  const transcode = () => act('Transcode', () => post('/jobs', { track_id: track.id, force: true }));
  const retry = () => act('Retry', () => post(`/jobs/${encodeURIComponent(job.id)}/retry`));
  const cancel = () => act('Cancel', () => post(`/jobs/${encodeURIComponent(job.id)}/cancel`));
  const active = job && ACTIVE.has(job.status);

  return html`<section class="card stack" aria-labelledby="job-heading">
    <h2 id="job-heading">Transcoding</h2>
    ${
      job
        ? html`<div class="stack job" aria-live="polite">
          <p class="row">
            <span class=${`badge badge-${job.status}`}>${job.status}</span>
            ${job.cancel_requested && active ? html`<span class="muted">cancelling…</span>` : null}
            ${job.attempts ? html`<span class="muted small-text">attempt ${job.attempts} of ${job.max_attempts}</span>` : null}
          </p>
          ${active ? html`<${ProgressBar} value=${job.progress} label="Transcoding progress" />` : null}
          ${job.error ? html`<p class="error">${job.error}</p>` : null}
          ${job.stderr_tail ? html`<details><summary>ffmpeg's last lines</summary><pre class="stderr">${job.stderr_tail}</pre></details>` : null}
          <p class="muted small-text">
            ${job.finished_at ? `Finished ${formatDate(job.finished_at)}` : job.started_at ? `Started ${formatDate(job.started_at)}` : job.created_at ? `Queued ${formatDate(job.created_at)}` : ''}
            ${active && !live ? ' · checking every 2 s (live updates are not connected)' : ''}
          </p>
        </div>`
        : html`<p class="muted">Never transcoded.</p>`
    }
    ${
      writer
        ? html`<div class="row">
          ${job && ACTIVE.has(job.status) ? html`<button type="button" class="secondary" disabled=${busy || job.cancel_requested} onClick=${cancel}>Cancel job</button>` : null}
          ${job && (job.status === 'failed' || job.status === 'cancelled') ? html`<button type="button" disabled=${busy} onClick=${retry}>Retry</button>` : null}
          ${!active && track.status === 'ok' ? html`<button type="button" class="secondary" disabled=${busy} onClick=${transcode}>${job ? 'Transcode again' : 'Transcode'}</button>` : null}
        </div>`
        : null
    }
    ${message ? html`<p class=${message.kind === 'error' ? 'error' : 'success'} role=${message.kind === 'error' ? 'alert' : 'status'}>${message.text}</p>` : null}
  </section>`;
}

function channelsText(channels) {
  if (!channels) return '–';
  return { 1: 'mono', 2: 'stereo' }[channels] || `${channels} channels`;
}

function kbps(bits) {
  return bits ? `${Math.round(bits / 1000)} kbit/s` : '–';
}

function khz(rate) {
  return rate ? `${(rate / 1000).toFixed(rate % 1000 ? 1 : 0)} kHz` : '–';
}

function Facts({ track, library }) {
  const tags = Object.entries(track.tags || {});
  return html`<section class="card stack" aria-labelledby="facts-heading">
    <h2 id="facts-heading">File</h2>
    <dl class="facts">
      <div><dt>Codec</dt><dd>${track.codec || '–'} <span class="muted">(${track.content_type})</span></dd></div>
      <div><dt>Bitrate</dt><dd>${kbps(track.bitrate)}</dd></div>
      <div><dt>Sample rate</dt><dd>${khz(track.sample_rate)}${track.bits_per_sample ? `, ${track.bits_per_sample}-bit` : ''}</dd></div>
      <div><dt>Channels</dt><dd>${channelsText(track.channels)}</dd></div>
      <div><dt>Duration</dt><dd>${formatDuration(track.duration)}</dd></div>
      <div><dt>Size</dt><dd>${formatBytes(track.size)}</dd></div>
      <div><dt>Path</dt><dd><code class="path">${track.path}</code></dd></div>
      <div><dt>Library</dt><dd>${library ? library.name : html`<code>${track.library_id}</code>`}</dd></div>
      <div><dt>Scanned</dt><dd>${formatDate(track.scanned_at)}</dd></div>
      <div><dt>Updated</dt><dd>${formatDate(track.updated_at)}</dd></div>
      ${track.edited.length ? html`<div><dt>Edited here</dt><dd>${track.edited.join(', ')}</dd></div>` : null}
    </dl>
    ${
      tags.length
        ? html`<details>
          <summary>The file's own tags</summary>
          <dl class="facts tags">
            ${tags.map(([key, value]) => html`<div key=${key}><dt>${key}</dt><dd>${Array.isArray(value) ? value.join('; ') : String(value)}</dd></div>`)}
          </dl>
        </details>`
        : null
    }
  </section>`;
}

function Renditions({ track, token }) {
  const renditions = [...(track.renditions || [])].sort((a, b) => (a.bitrate || 1e12) - (b.bitrate || 1e12));
  return html`<section class="stack" aria-labelledby="renditions-heading">
    <h2 id="renditions-heading">Renditions</h2>
    ${
      renditions.length
        ? html`<div class="table-wrap">
          <table class="renditions">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Codec</th>
                <th scope="col" class="num">Bitrate</th>
                <th scope="col" class="num hide-phone">Average</th>
                <th scope="col" class="num hide-phone">Peak</th>
                <th scope="col" class="num">Sample rate</th>
                <th scope="col" class="hide-phone">Channels</th>
                <th scope="col" class="num hide-phone">Duration</th>
                <th scope="col" class="num">Size</th>
                <th scope="col" class="num">Gain</th>
                <th scope="col">Files</th>
              </tr>
            </thead>
            <tbody>
              ${renditions.map(
                (r) => html`<tr key=${r.name}>
                  <th scope="row"><code>${r.name}</code></th>
                  <td>${renditionLabel(r)} <span class="muted small-text">${r.codecs}</span></td>
                  <td class="num">${kbps(r.bitrate)}</td>
                  <td class="num hide-phone">${kbps(r.average_bitrate)}</td>
                  <td class="num hide-phone">${kbps(r.peak_bitrate)}</td>
                  <td class="num">${khz(r.sample_rate)}</td>
                  <td class="hide-phone">${channelsText(r.channels)}</td>
                  <td class="num hide-phone">${formatDuration(r.duration)}</td>
                  <td class="num">${formatBytes(r.size)}</td>
                  <td class="num">${r.gain_db ? `${r.gain_db > 0 ? '+' : ''}${r.gain_db.toFixed(1)} dB` : '0 dB'}</td>
                  <td class="files">
                    <a href=${withToken(r.urls.playlist, token)} target="_blank" rel="noopener" aria-label=${`HLS playlist of ${r.name} as .m3u8`}>m3u8</a>
                    <a href=${withToken(r.urls.progressive, token)} download aria-label=${`Download ${r.name} as .m4a`}>m4a</a>
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>
        </div>`
        : html`<p class="muted card">No renditions yet${track.job && ACTIVE.has(track.job.status) ? ': the transcode is under way.' : '.'}</p>`
    }
  </section>`;
}
