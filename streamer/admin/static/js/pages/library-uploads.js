// The library page's upload panel: files dropped or picked go to /api/v1/uploads through
// tus (tus-js-client), a few at a time, each with its progress, pause, resume, retry and
// remove, and the server's reason when it refuses one. The list lives at module level, so
// uploads carry on (and stay listed) while the admin shows another page.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../api.js';
import { useEventStatus, useEvents } from '../events.js';
import { html } from '../html.js';
import { formatBytes, ProgressBar, toast } from '../ui.js';

const ENDPOINT = '/api/v1/uploads';
const PARALLEL = 2; // uploads sending at once; the rest wait as "queued"
// One PATCH per 16 MiB: progress is per byte anyway, and a pause keeps what arrived
// (the server commits a broken-off body), so the size only bounds a single request.
const CHUNK_SIZE = 16 * 1024 * 1024;
// After a network error or a 5xx: try again at once, then after 1, 3, 5 and 10 s.
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];
const ACTIVE = new Set(['uploading', 'retrying', 'processing']);
const JOB_DONE = new Set(['succeeded', 'failed', 'cancelled']);
const POLL_MS = 5000; // transcoding state, only while live events are down

// --- tus-js-client, loaded once, through the import map. Its bundle is UMD, not a
// module: imported for its effect it defines window.tus.
let tusLoading = null;
function loadTus() {
  if (!tusLoading) {
    tusLoading = import('tus-js-client').then(
      () => window.tus || Promise.reject(new Error('tus-js-client did not load')),
      (error) => {
        tusLoading = null;
        throw new Error('The upload library (tus-js-client) could not be loaded; run scripts/assets.', {
          cause: error,
        });
      },
    );
  }
  return tusLoading;
}

// --- the store: items are plain objects changed in place; listeners re-render.
let nextKey = 0;
let items = [];
let csrfToken = null;
const listeners = new Set();
const uploadedListeners = new Set();
const jobsSeen = new Map(); // track id -> {at, job}: job events, for tracks learnt late
let announce = () => {};

function changed() {
  items = [...items];
  for (const listener of listeners) listener(items);
}

function useUploads() {
  const [value, setValue] = useState(items);
  useEffect(() => {
    listeners.add(setValue);
    setValue(items);
    return () => listeners.delete(setValue);
  }, []);
  return value;
}

// What a failed tus request means for the person uploading: a message, whether trying
// again can help, and whether the server refused the file itself.
function describe(error) {
  const response = error?.originalResponse;
  const status = response ? response.getStatus() : 0;
  if (!error?.originalRequest) {
    return { message: error?.message || 'The upload could not start.', retryable: true, rejected: false };
  }
  if (!status) {
    if (navigator.onLine === false) {
      return { message: 'Offline: the upload goes on when the connection is back.', retryable: true, offline: true };
    }
    return { message: 'Network error: the server could not be reached.', retryable: true };
  }
  let detail = '';
  try {
    const problem = JSON.parse(response.getBody() || '');
    detail = problem.detail || problem.title || '';
  } catch {
    detail = '';
  }
  if (status >= 500) {
    return { message: `Server error (${status})${detail ? `: ${detail}` : ''}.`, retryable: true, status };
  }
  if (status === 401) return { message: 'Signed out: sign in again, then retry.', retryable: true, status };
  if (status === 403 || status === 404) {
    return { message: `Not allowed: ${detail || 'no write access to this library'}.`, retryable: false, status };
  }
  if ([400, 413, 415, 422].includes(status)) {
    return {
      message: detail || `The server refused the file (HTTP ${status}).`,
      retryable: false,
      rejected: true,
      status,
    };
  }
  return { message: `Upload failed (HTTP ${status})${detail ? `: ${detail}` : ''}.`, retryable: true, status };
}

function uploadIdOf(url) {
  return url ? new URL(url, location.href).pathname.split('/').pop() : null;
}

function setJob(item, job) {
  item.job = job ? { id: job.id, status: job.status, progress: job.progress, error: job.error } : null;
}

// The upload became a track: learn which, and that track's transcoding state.
async function learnTrack(item, trackId) {
  if (!trackId || item.trackId === trackId) return;
  item.trackId = trackId;
  changed();
  for (const listener of uploadedListeners) listener(trackId);
  const started = performance.now();
  try {
    const track = await get(`/tracks/${encodeURIComponent(trackId)}`);
    const seen = jobsSeen.get(trackId);
    setJob(item, seen && seen.at >= started ? seen.job : track.job);
    item.title = track.title || null;
  } catch {
    // The row still links to the track; its state arrives with the next job event.
  }
  changed();
}

async function succeeded(item) {
  item.state = 'done';
  item.sent = item.size;
  item.reason = null;
  changed();
  announce(`${item.name}: uploaded`);
  if (!item.uploadId) return;
  try {
    const upload = await get(`/uploads/${encodeURIComponent(item.uploadId)}`);
    await learnTrack(item, upload.track_id);
  } catch {
    // The `upload` event carries the track too.
  }
}

async function failed(item, error) {
  const what = describe(error);
  if (what.offline) {
    // tus-js-client does not retry while the browser is offline: wait for 'online'.
    item.state = 'retrying';
    item.reason = what.message;
    item.waitingForNetwork = true;
    changed();
    return;
  }
  item.state = 'failed';
  item.reason = what.message;
  item.retryable = what.retryable;
  item.rejected = Boolean(what.rejected);
  if (what.status === 422 && !error.originalResponse.getBody() && item.uploadId) {
    // No body (a proxy ate it): the upload's JSON view keeps the reason.
    try {
      item.reason = (await get(`/uploads/${encodeURIComponent(item.uploadId)}`)).error || item.reason;
    } catch {
      // keep the generic message
    }
  }
  changed();
  // The row says why in red; a toast per file would bury the page when many fail.
  announce(`${item.name}: ${item.rejected ? 'rejected' : 'failed'}: ${item.reason}`);
  pump();
}

async function begin(item) {
  item.state = 'uploading';
  item.reason = null;
  item.waitingForNetwork = false;
  changed();
  if (item.upload) {
    item.upload.start(); // resumes: HEAD for the offset, then PATCH from there
    return;
  }
  let tus;
  try {
    tus = await loadTus();
  } catch (error) {
    item.state = 'failed';
    item.reason = error.message;
    item.retryable = true;
    changed();
    return;
  }
  if (item.state !== 'uploading') return; // paused or removed while the script loaded
  const shouldRetry = tus.defaultOptions.onShouldRetry;
  const upload = new tus.Upload(item.file, {
    endpoint: ENDPOINT,
    chunkSize: CHUNK_SIZE,
    retryDelays: RETRY_DELAYS,
    metadata: { filename: item.name, library: item.library },
    // The session cookie goes with these same-origin requests; writes need the token too.
    headers: { 'X-CSRF-Token': csrfToken || '' },
    removeFingerprintOnSuccess: true,
    onUploadUrlAvailable: () => {
      item.uploadId = uploadIdOf(upload.url);
    },
    onProgress: (sent, total) => {
      if (item.state === 'paused' || item.state === 'removed') return;
      item.sent = sent;
      // All bytes sent: the server now checks the file and stores it before answering.
      item.state = sent >= total ? 'processing' : 'uploading';
      item.reason = null;
      changed();
    },
    onShouldRetry: (error, attempt, options) => {
      const retry = shouldRetry ? shouldRetry(error, attempt, options) : false;
      if (retry) {
        item.state = 'retrying';
        item.attempt = attempt + 1;
        item.reason = describe(error).message;
        changed();
      }
      return retry;
    },
    onSuccess: () => succeeded(item).finally(pump),
    onError: (error) => failed(item, error),
  });
  item.upload = upload;
  // An unfinished upload of this very file into the same library (from before a reload):
  // carry on from its offset rather than sending everything again.
  try {
    const previous = await upload.findPreviousUploads();
    const inUse = new Set(items.filter((other) => other !== item && other.upload).map((other) => other.upload.url));
    const same = previous.find((p) => p.metadata && p.metadata.library === item.library && !inUse.has(p.uploadUrl));
    if (same) upload.resumeFromPreviousUpload(same);
  } catch {
    // No storage (private mode): start afresh.
  }
  if (item.state === 'uploading') upload.start();
}

// Start queued uploads while fewer than PARALLEL are sending.
function pump() {
  let active = items.filter((item) => ACTIVE.has(item.state)).length;
  for (const item of items) {
    if (active >= PARALLEL) break;
    if (item.state === 'queued') {
      active += 1;
      begin(item);
    }
  }
}

function addFiles(files, library) {
  for (const file of files) {
    items.push({
      key: ++nextKey,
      file,
      name: file.name,
      size: file.size,
      library,
      state: 'queued',
      sent: 0,
      reason: null,
      retryable: false,
      rejected: false,
      attempt: 0,
      upload: null,
      uploadId: null,
      trackId: null,
      title: null,
      job: null,
    });
  }
  changed();
  pump();
}

function pause(item) {
  const wasQueued = item.state === 'queued';
  item.state = 'paused';
  item.reason = null;
  changed();
  // abort() without terminating: the server keeps the bytes that arrived.
  if (!wasQueued && item.upload) item.upload.abort().catch(() => {});
  pump();
}

function resume(item) {
  item.state = 'queued';
  changed();
  pump();
}

function retry(item) {
  item.state = 'queued';
  item.reason = null;
  item.retryable = false;
  changed();
  pump();
}

function remove(item) {
  const unfinished = !['done', 'failed'].includes(item.state);
  const previous = item.state;
  item.state = 'removed';
  items = items.filter((other) => other !== item);
  changed();
  if (item.upload && (unfinished || (previous === 'failed' && item.retryable))) {
    // Terminate on the server too (DELETE), so the partial file does not wait to expire.
    item.upload.abort(Boolean(item.upload.url)).catch(() => {});
  }
  pump();
}

// Read the transcoding state of uploaded tracks still waiting or transcoding, and which
// track a finished upload became if the answer was missed (offline, say).
function refreshJobs() {
  for (const item of items) {
    if (item.state === 'done' && !item.trackId && item.uploadId) {
      get(`/uploads/${encodeURIComponent(item.uploadId)}`)
        .then((upload) => learnTrack(item, upload.track_id))
        .catch(() => {});
    }
    if (item.trackId && !(item.job && JOB_DONE.has(item.job.status))) {
      const started = performance.now();
      get(`/tracks/${encodeURIComponent(item.trackId)}`)
        .then((track) => {
          const seen = jobsSeen.get(item.trackId);
          setJob(item, seen && seen.at >= started ? seen.job : track.job);
          changed();
        })
        .catch(() => {});
    }
  }
}

function onJob(job) {
  jobsSeen.set(job.track_id, { at: performance.now(), job });
  if (jobsSeen.size > 500) jobsSeen.delete(jobsSeen.keys().next().value);
  let touched = false;
  for (const item of items) {
    if (item.trackId && item.trackId === job.track_id) {
      setJob(item, job);
      touched = true;
    }
  }
  if (touched) changed();
}

function onUploadEvent(event) {
  const item = items.find((one) => one.uploadId && one.uploadId === event.id);
  if (!item) return;
  if (event.state === 'completed' && event.track_id) {
    if (item.state !== 'done') {
      item.state = 'done';
      item.sent = item.size;
      item.reason = null;
      changed();
    }
    learnTrack(item, event.track_id);
  } else if (event.state === 'failed' && item.state !== 'failed') {
    if (item.upload) item.upload.abort().catch(() => {});
    item.state = 'failed';
    item.reason = event.error || 'The server refused the file.';
    item.rejected = true;
    item.retryable = false;
    changed();
    pump();
  }
}

// Uploads that waited for the network resume when it is back.
addEventListener('online', () => {
  for (const item of items) {
    if (item.waitingForNetwork && item.state === 'retrying') {
      item.waitingForNetwork = false;
      item.state = 'queued';
    }
  }
  changed();
  pump();
  refreshJobs();
});

// Leaving the admin stops the uploads: ask first while any is sending.
addEventListener('beforeunload', (event) => {
  if (items.some((item) => ACTIVE.has(item.state) || item.state === 'queued')) {
    event.preventDefault();
    event.returnValue = '';
  }
});

// --- rendering
function stateText(item) {
  switch (item.state) {
    case 'queued':
      return 'Queued';
    case 'uploading':
      return 'Uploading';
    case 'retrying':
      return item.waitingForNetwork
        ? item.reason
        : `Retrying… (attempt ${item.attempt} of ${RETRY_DELAYS.length}) ${item.reason || ''}`.trim();
    case 'paused':
      return 'Paused';
    case 'processing':
      return 'Processing: the server checks and stores the file…';
    case 'done':
      return 'Done';
    case 'failed':
      return `${item.rejected ? 'Rejected' : 'Failed'}: ${item.reason}`;
    default:
      return item.state;
  }
}

function Transcode({ item }) {
  const job = item.job;
  if (!job) return html`<span class="badge badge-queued">Waiting for transcoding</span>`;
  if (job.status === 'queued') return html`<span class="badge badge-queued">Transcode queued</span>`;
  if (job.status === 'running') {
    return html`<${ProgressBar} value=${job.progress} label=${`Transcoding ${item.name}`} />`;
  }
  if (job.status === 'succeeded') return html`<span class="badge badge-succeeded">Transcoded</span>`;
  if (job.status === 'failed') {
    return html`<span class="badge badge-failed">Transcode failed</span> <span class="error">${job.error}</span>`;
  }
  return html`<span class="badge">Transcode ${job.status}</span>`;
}

function UploadRow({ item }) {
  const name = item.name;
  const stateClass = item.state === 'failed' ? 'error' : item.state === 'done' ? 'success' : 'muted';
  const actions = [];
  if (['uploading', 'retrying', 'queued'].includes(item.state)) {
    actions.push(
      html`<button type="button" class="secondary small" aria-label=${`Pause ${name}`} onClick=${() => pause(item)}>Pause</button>`,
    );
  }
  if (item.state === 'paused') {
    actions.push(
      html`<button type="button" class="small" aria-label=${`Resume ${name}`} onClick=${() => resume(item)}>Resume</button>`,
    );
  }
  if (item.state === 'failed' && item.retryable) {
    actions.push(
      html`<button type="button" class="small" aria-label=${`Retry ${name}`} onClick=${() => retry(item)}>Retry</button>`,
    );
  }
  if (item.state !== 'processing') {
    actions.push(
      html`<button type="button" class="link small" aria-label=${`Remove ${name}`} onClick=${() => remove(item)}>Remove</button>`,
    );
  }
  return html`<li class=${`upload upload-${item.state}`} data-upload=${name}>
    <div class="upload-file">
      <strong class="upload-name">${name}</strong>
      <span class="muted">${formatBytes(item.size)}</span>
    </div>
    ${
      !(item.state === 'failed' && !item.sent) &&
      html`<${ProgressBar} value=${item.size ? item.sent / item.size : item.state === 'done' ? 1 : 0} label=${`Upload of ${name}`} />
      <span class="upload-bytes muted">${formatBytes(item.sent)} of ${formatBytes(item.size)}</span>`
    }
    <span class=${`upload-state ${stateClass}`}>${stateText(item)}</span>
    ${
      item.state === 'done' &&
      html`<span class="upload-track">
      ${
        item.trackId
          ? html`<a href=${`/admin/tracks/${item.trackId}`}>Open ${item.title || 'track'}</a> <${Transcode} item=${item} />`
          : html`<span class="muted">Adding to the catalogue…</span>`
      }
    </span>`
    }
    <div class="upload-actions">${actions}</div>
  </li>`;
}

function Summary({ list }) {
  const count = (states) => list.filter((item) => states.includes(item.state)).length;
  const parts = [
    [count(['uploading', 'retrying', 'processing']), 'uploading'],
    [count(['queued']), 'queued'],
    [count(['paused']), 'paused'],
    [count(['done']), 'done'],
    [count(['failed']), 'failed'],
  ].filter(([n]) => n);
  return html`<span class="muted">${parts.map(([n, label]) => `${n} ${label}`).join(' · ')}</span>`;
}

// The panel. `libraries` from GET /libraries; `defaultLibrary` the list's library filter.
export default function UploadPanel({ user, libraries, defaultLibrary, onUploaded }) {
  const list = useUploads();
  const [library, setLibrary] = useState(defaultLibrary || '');
  const [over, setOver] = useState(false);
  const [message, setMessage] = useState('');
  const input = useRef(null);
  const depth = useRef(0);
  csrfToken = user.csrf_token;

  useEffect(() => {
    if (!library && libraries.length) setLibrary(defaultLibrary || libraries[0].id);
  }, [libraries, defaultLibrary]);

  const uploaded = useRef(onUploaded);
  uploaded.current = onUploaded;
  useEffect(() => {
    announce = setMessage;
    const listener = (trackId) => uploaded.current?.(trackId);
    uploadedListeners.add(listener);
    // Back on the page: the transcoding state of tracks uploaded meanwhile.
    refreshJobs();
    // A file dropped beside the drop zone must not replace the admin with that file.
    const guard = (event) => {
      if (event.dataTransfer && Array.from(event.dataTransfer.types || []).includes('Files')) event.preventDefault();
    };
    addEventListener('dragover', guard);
    addEventListener('drop', guard);
    return () => {
      announce = () => {};
      uploadedListeners.delete(listener);
      removeEventListener('dragover', guard);
      removeEventListener('drop', guard);
    };
  }, []);

  useEvents(['job', 'upload'], ({ type, data }) => {
    if (!data)
      refreshJobs(); // {type: 'reset'}: events were missed; read the state afresh
    else if (type === 'job') onJob(data);
    else onUploadEvent(data);
  });
  // Without the live stream, poll while an uploaded track waits for its transcode.
  const live = useEventStatus() === 'live';
  const waiting = list.some(
    (item) =>
      (item.state === 'done' && !item.trackId) || (item.trackId && !(item.job && JOB_DONE.has(item.job.status))),
  );
  useEffect(() => {
    if (live || !waiting) return undefined;
    const timer = setInterval(refreshJobs, POLL_MS);
    return () => clearInterval(timer);
  }, [live, waiting]);

  const take = (files) => {
    if (!files?.length) return;
    if (!library) {
      toast('Choose a library to upload into first.', 'error');
      return;
    }
    addFiles(Array.from(files), library);
    setMessage(`${files.length} file${files.length === 1 ? '' : 's'} added to the uploads`);
  };
  const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes('Files');
  const dragEnter = (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth.current += 1;
    setOver(true);
  };
  const dragOver = (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  };
  const dragLeave = () => {
    depth.current = Math.max(0, depth.current - 1);
    if (!depth.current) setOver(false);
  };
  const drop = (event) => {
    event.preventDefault();
    depth.current = 0;
    setOver(false);
    take(event.dataTransfer?.files);
  };
  const picked = (event) => {
    take(event.currentTarget.files);
    event.currentTarget.value = ''; // the same file can be picked again
  };

  const finished = list.filter((item) => item.state === 'done' || item.state === 'failed');
  const pausable = list.filter((item) => ['uploading', 'retrying', 'queued'].includes(item.state));
  const paused = list.filter((item) => item.state === 'paused');
  return html`<section class="card upload-panel stack" aria-labelledby="upload-heading">
    <div class="row">
      <h2 id="upload-heading">Upload</h2>
      <span class="spacer"></span>
      <label class="inline-label">Into library
        <select value=${library} onChange=${(event) => setLibrary(event.currentTarget.value)} disabled=${!libraries.length}>
          ${libraries.map((lib) => html`<option key=${lib.id} value=${lib.id}>${lib.name}</option>`)}
        </select>
      </label>
    </div>
    <div
      class=${`dropzone${over ? ' over' : ''}`}
      data-testid="dropzone"
      onDragEnter=${dragEnter}
      onDragOver=${dragOver}
      onDragLeave=${dragLeave}
      onDrop=${drop}
    >
      <p>Drag audio files here, or</p>
      <button type="button" onClick=${() => input.current.click()} disabled=${!library}>Choose files…</button>
      <input ref=${input} type="file" multiple accept="audio/*" hidden onChange=${picked} />
      <p class="muted small-print">Each file resumes after a dropped connection; the server checks it is audio.</p>
    </div>
    <p class="visually-hidden" role="status" aria-live="polite">${message}</p>
    ${
      list.length > 0 &&
      html`<div class="stack">
      <div class="row">
        <${Summary} list=${list} />
        <span class="spacer"></span>
        ${pausable.length > 0 && html`<button type="button" class="secondary small" onClick=${() => pausable.forEach(pause)}>Pause all</button>`}
        ${paused.length > 0 && html`<button type="button" class="secondary small" onClick=${() => paused.forEach(resume)}>Resume all</button>`}
        ${
          finished.length > 0 &&
          html`<button type="button" class="secondary small" onClick=${() => finished.forEach(remove)}>Clear finished</button>`
        }
      </div>
      <ul class="uploads" aria-label="Uploads">
        ${list.map((item) => html`<${UploadRow} key=${item.key} item=${item} />`)}
      </ul>
    </div>`
    }
  </section>`;
}
