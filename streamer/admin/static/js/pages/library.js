// The media library: search, combinable filters, tag chips, sorting and cursor paging over
// GET /tracks (the view lives in the URL query, so reload and back keep it); each track's
// transcoding state live from `job` events; batch actions on a selection; and, for users
// who can write, the upload panel (library-uploads.js).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { useEventStatus, useEvents } from '../events.js';
import { html } from '../html.js';
import { setQuery, usePath } from '../router.js';
import { can } from '../session.js';
import { Dialog, ErrorMessage, formatDuration, Loading, ProgressBar, problemText, toast, useTitle } from '../ui.js';
import UploadPanel from './library-uploads.js';

const DEFAULT_SORT = '-scanned_at';
const DEFAULT_LIMIT = 50;
const PAGE_SIZES = [10, 25, 50, 100, 200];
const DEBOUNCE_MS = 300;
const POLL_MS = 5000; // transcoding state, only while live events are down
const ACTIVE_JOBS = new Set(['queued', 'running']);
const BATCH_MAX = 500; // POST /tracks/batch takes up to 500 ids
// Filters sent to GET /tracks as they are (tag is repeated, apart).
const FILTERS = ['q', 'genre', 'year_min', 'year_max', 'duration_min', 'duration_max', 'codec', 'status', 'library'];
const MORE_FILTERS = ['duration_min', 'duration_max', 'codec', 'status', 'library'];
const SORTS = [
  ['-scanned_at', 'Recently scanned'],
  ['scanned_at', 'Least recently scanned'],
  ['title', 'Title A–Z'],
  ['-title', 'Title Z–A'],
  ['artist', 'Artist A–Z'],
  ['-artist', 'Artist Z–A'],
  ['album', 'Album A–Z'],
  ['-album', 'Album Z–A'],
  ['year', 'Year, oldest first'],
  ['-year', 'Year, newest first'],
  ['duration', 'Shortest first'],
  ['-duration', 'Longest first'],
  ['created_at', 'Added, oldest first'],
  ['-created_at', 'Added, newest first'],
];
const SORT_NAMES = new Set(SORTS.map(([value]) => value));

// --- the view <-> the URL query
function readView() {
  const search = new URLSearchParams(location.search);
  const view = {};
  for (const key of FILTERS) view[key] = search.get(key) || '';
  view.tag = [...new Set(search.getAll('tag').filter(Boolean))];
  view.tags_mode = search.get('tags_mode') === 'all' ? 'all' : 'any';
  view.sort = SORT_NAMES.has(search.get('sort')) ? search.get('sort') : DEFAULT_SORT;
  const limit = Number.parseInt(search.get('limit'), 10);
  view.limit = limit >= 1 && limit <= 500 ? limit : DEFAULT_LIMIT;
  view.cursor = search.get('cursor') || '';
  const page = Number.parseInt(search.get('page'), 10);
  view.page = view.cursor && page > 1 ? page : 1;
  return view;
}

let written = null; // the query string this page last wrote

function writeView(view) {
  setQuery({
    ...Object.fromEntries(FILTERS.map((key) => [key, view[key]])),
    tag: view.tag,
    tags_mode: view.tag.length > 1 && view.tags_mode === 'all' ? 'all' : '',
    sort: view.sort === DEFAULT_SORT ? '' : view.sort,
    limit: view.limit === DEFAULT_LIMIT ? '' : view.limit,
    cursor: view.cursor,
    page: view.cursor && view.page > 1 ? view.page : '',
  });
  written = location.search;
}

// Only values GET /tracks accepts: a half-typed year must not answer 422.
function valid(key, value) {
  if (!value) return false;
  if (key === 'year_min' || key === 'year_max') return /^\d{1,4}$/.test(value);
  if (key === 'duration_min' || key === 'duration_max') return /^\d+(\.\d+)?$/.test(value);
  return true;
}

function apiQuery(view) {
  const query = { sort: view.sort, limit: view.limit };
  for (const key of FILTERS) {
    const value = view[key].trim();
    if (valid(key, value)) query[key] = value;
  }
  if (view.tag.length) {
    query.tag = view.tag;
    query.tags_mode = view.tags_mode;
  }
  if (view.cursor) query.cursor = view.cursor;
  return query;
}

const filtered = (view) => FILTERS.some((key) => view[key]) || view.tag.length > 0;
const titleOf = (track) => track.title || track.path.split('/').pop();

// --- the transcoding (or catalogue) state of one track
function jobFrom(data) {
  return { id: data.id, status: data.status, progress: data.progress, error: data.error };
}

function TrackState({ track }) {
  if (track.status !== 'ok') {
    return html`<span class=${`badge badge-${track.status}`}>${track.status === 'gone' ? 'File gone' : 'Unreadable'}</span>
      ${track.error && html`<span class="state-reason error">${track.error}</span>`}`;
  }
  const job = track.job;
  if (!job) return html`<span class="badge">Not transcoded</span>`;
  switch (job.status) {
    case 'queued':
      return html`<span class="badge badge-queued">${job.error ? 'Waiting to retry' : 'Queued'}</span>
        ${job.error && html`<span class="state-reason muted">${job.error}</span>`}`;
    case 'running':
      return html`<${ProgressBar} value=${job.progress} label=${`Transcoding ${titleOf(track)}`} />`;
    case 'succeeded':
      return html`<span class="badge badge-succeeded">Ready</span>`;
    case 'failed':
      return html`<span class="badge badge-failed">Transcode failed</span>
        ${job.error && html`<span class="state-reason error">${job.error}</span>`}`;
    default:
      return html`<span class="badge">Cancelled</span>`;
  }
}

// --- filters
function FilterForm({ view, draft, onDraft, onApply, libraries, genres, codecs }) {
  const more = MORE_FILTERS.some((key) => view[key]);
  const text = (key) => (event) => onDraft(key, event.currentTarget.value);
  const choose = (key) => (event) => onApply({ [key]: event.currentTarget.value });
  return html`<form class="card filters" role="search" aria-label="Tracks" onSubmit=${(event) => event.preventDefault()}>
    <div class="filters-grid">
      <label class="filter-search">Search
        <input type="search" name="q" value=${draft.q} onInput=${text('q')} placeholder="Title, artist, album, tag or file" autocomplete="off" />
      </label>
      <label>Genre
        <input name="genre" list="library-genres" value=${draft.genre} onInput=${text('genre')} autocomplete="off" />
      </label>
      <label>Year from <input name="year_min" type="number" min="0" max="9999" inputmode="numeric" value=${draft.year_min} onInput=${text('year_min')} /></label>
      <label>Year to <input name="year_max" type="number" min="0" max="9999" inputmode="numeric" value=${draft.year_max} onInput=${text('year_max')} /></label>
      <label>Sort
        <select name="sort" value=${view.sort} onChange=${choose('sort')}>
          ${SORTS.map(([value, label]) => html`<option key=${value} value=${value}>${label}</option>`)}
        </select>
      </label>
    </div>
    <details class="filters-more" open=${more}>
      <summary>More filters</summary>
      <div class="filters-grid">
        <label>Length from (s) <input name="duration_min" type="number" min="0" step="any" value=${draft.duration_min} onInput=${text('duration_min')} /></label>
        <label>Length to (s) <input name="duration_max" type="number" min="0" step="any" value=${draft.duration_max} onInput=${text('duration_max')} /></label>
        <label>Codec
          <input name="codec" list="library-codecs" value=${draft.codec} onInput=${text('codec')} autocomplete="off" />
        </label>
        <label>Status
          <select name="status" value=${view.status} onChange=${choose('status')}>
            <option value="">Any</option>
            <option value="ok">Readable</option>
            <option value="error">Unreadable</option>
            <option value="gone">File gone</option>
          </select>
        </label>
        ${
          libraries.length > 1 &&
          html`<label>Library
          <select name="library" value=${view.library} onChange=${choose('library')}>
            <option value="">All libraries</option>
            ${libraries.map((lib) => html`<option key=${lib.id} value=${lib.id}>${lib.name}</option>`)}
          </select>
        </label>`
        }
        <label>Per page
          <select name="limit" value=${String(view.limit)} onChange=${(event) => onApply({ limit: Number(event.currentTarget.value) })}>
            ${[...new Set([...PAGE_SIZES, view.limit])].sort((a, b) => a - b).map((n) => html`<option key=${n} value=${String(n)}>${n}</option>`)}
          </select>
        </label>
      </div>
    </details>
    <datalist id="library-genres">${genres.map((g) => html`<option key=${g} value=${g} />`)}</datalist>
    <datalist id="library-codecs">${codecs.map((c) => html`<option key=${c} value=${c} />`)}</datalist>
  </form>`;
}

function TagFilters({ view, onApply, onClear }) {
  const [typed, setTyped] = useState('');
  const add = (event) => {
    event.preventDefault();
    const tag = typed.trim();
    if (tag && !view.tag.includes(tag)) onApply({ tag: [...view.tag, tag] });
    setTyped('');
  };
  const removeTag = (tag) => {
    onApply({ tag: view.tag.filter((one) => one !== tag) });
    // Keep the keyboard somewhere sensible: the tag box once the chip is gone.
    setTimeout(() => document.getElementById('library-add-tag')?.focus(), 0);
  };
  return html`<div class="row tag-filters">
    <span class="tag-filters-label" id="tag-filters-label">Tags:</span>
    ${view.tag.length === 0 && html`<span class="muted">none (click a track's tag to filter by it)</span>`}
    <ul class="chips" aria-labelledby="tag-filters-label">
      ${view.tag.map(
        (tag) => html`<li key=${tag} class="chip">
          ${tag}
          <button type="button" aria-label=${`Remove tag filter ${tag}`} onClick=${() => removeTag(tag)}>×</button>
        </li>`,
      )}
    </ul>
    ${
      view.tag.length > 1 &&
      html`<label class="inline-label">Match
      <select value=${view.tags_mode} onChange=${(event) => onApply({ tags_mode: event.currentTarget.value })}>
        <option value="any">any of these tags</option>
        <option value="all">all of these tags</option>
      </select>
    </label>`
    }
    <form class="inline-form" onSubmit=${add}>
      <input id="library-add-tag" aria-label="Tag to filter by" placeholder="Add a tag filter" value=${typed} onInput=${(event) => setTyped(event.currentTarget.value)} size="14" />
      <button type="submit" class="secondary small">Add</button>
    </form>
    <span class="spacer"></span>
    ${filtered(view) && html`<button type="button" class="secondary small" onClick=${onClear}>Clear filters</button>`}
  </div>`;
}

// --- the table
const SORTABLE = { title: 'Title', artist: 'Artist', album: 'Album', year: 'Year', duration: 'Length' };

function SortHeader({ field, sort, onSort, className = '' }) {
  const state = sort === field ? 'ascending' : sort === `-${field}` ? 'descending' : undefined;
  const next = state === 'ascending' ? `-${field}` : field;
  return html`<th scope="col" class=${className} aria-sort=${state}>
    <button type="button" class="sort" onClick=${() => onSort(next)} title=${`Sort by ${SORTABLE[field].toLowerCase()}, ${next.startsWith('-') ? 'descending' : 'ascending'}`}>
      ${SORTABLE[field]}<span class="sort-mark" aria-hidden="true">${state === 'ascending' ? '▲' : state === 'descending' ? '▼' : '↕'}</span>
    </button>
  </th>`;
}

function TrackRow({ track, selectable, selected, onSelect, onTag }) {
  const title = titleOf(track);
  return html`<tr key=${track.id} data-track=${track.id} class=${selected ? 'selected' : ''}>
    ${
      selectable &&
      html`<td class="select"><input type="checkbox" aria-label=${`Select ${title}`} checked=${selected} onChange=${(event) => onSelect(track, event.currentTarget.checked)} /></td>`
    }
    <td class="title"><a href=${`/admin/tracks/${track.id}`}>${title}</a></td>
    <td>${track.artist || html`<span class="muted">–</span>`}</td>
    <td class="hide-phone">${track.album || html`<span class="muted">–</span>`}</td>
    <td class="num hide-phone">${track.year ?? html`<span class="muted">–</span>`}</td>
    <td class="num">${formatDuration(track.duration)}</td>
    <td class="hide-phone">${track.codec || html`<span class="muted">–</span>`}</td>
    <td class="state"><${TrackState} track=${track} /></td>
    <td class="tags">
      ${track.labels.map(
        (label) =>
          html`<button key=${label} type="button" class="chip tag" title=${`Filter by tag ${label}`} aria-label=${`Filter by tag ${label}`} onClick=${() => onTag(label)}>${label}</button>`,
      )}
    </td>
  </tr>`;
}

function TrackTable({ page, view, selectable, selection, onSelect, onSelectPage, onSort, onTag, busy }) {
  const items = page.items;
  const chosen = items.filter((track) => selection.has(track.id)).length;
  const sortLabel = SORTS.find(([value]) => value === view.sort)?.[1] || view.sort;
  return html`<div class="table-wrap" aria-busy=${busy ? 'true' : 'false'}>
    <table class="tracks">
      <caption class="visually-hidden">Tracks, sorted: ${sortLabel}</caption>
      <thead>
        <tr>
          ${
            selectable &&
            html`<th scope="col" class="select">
            <input type="checkbox" aria-label="Select all tracks on this page" checked=${items.length > 0 && chosen === items.length}
              indeterminate=${chosen > 0 && chosen < items.length} onChange=${(event) => onSelectPage(event.currentTarget.checked)} />
          </th>`
          }
          <${SortHeader} field="title" sort=${view.sort} onSort=${onSort} />
          <${SortHeader} field="artist" sort=${view.sort} onSort=${onSort} />
          <${SortHeader} field="album" sort=${view.sort} onSort=${onSort} className="hide-phone" />
          <${SortHeader} field="year" sort=${view.sort} onSort=${onSort} className="num hide-phone" />
          <${SortHeader} field="duration" sort=${view.sort} onSort=${onSort} className="num" />
          <th scope="col" class="hide-phone">Codec</th>
          <th scope="col">Status</th>
          <th scope="col">Tags</th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (track) =>
            html`<${TrackRow} key=${track.id} track=${track} selectable=${selectable} selected=${selection.has(track.id)} onSelect=${onSelect} onTag=${onTag} />`,
        )}
      </tbody>
    </table>
  </div>`;
}

function Paging({ view, page, canGoBack, onFirst, onPrevious, onNext }) {
  if (!view.cursor && !page.next_cursor) return null;
  return html`<nav class="pager" aria-label="Pages of tracks">
    <button type="button" class="secondary" disabled=${!view.cursor} onClick=${onFirst}>First page</button>
    <button type="button" disabled=${!canGoBack} onClick=${onPrevious}>← Previous</button>
    <button type="button" disabled=${!page.next_cursor} onClick=${onNext}>Next →</button>
  </nav>`;
}

function Count({ view, page }) {
  const n = page.items.length;
  const total = page.total;
  let text;
  if (!total) text = 'No tracks';
  else if (!view.cursor && !page.next_cursor) text = `${total} track${total === 1 ? '' : 's'}`;
  else {
    const first = (view.page - 1) * view.limit + 1;
    text = n ? `${first}–${first + n - 1} of ${total} tracks` : `${total} tracks`;
  }
  return html`<p class="muted result-count" role="status" aria-live="polite">${text}${filtered(view) ? ` match${total === 1 ? 'es' : ''}` : ''}</p>`;
}

// --- batch actions on the selection
const BATCH_WORDS = {
  tag: { button: 'Add tag', done: 'Tagged', same: 'Already had the tag' },
  untag: { button: 'Remove tag', done: 'Tag removed', same: 'Did not have the tag' },
  retranscode: { button: 'Re-transcode', done: 'Transcode queued', same: 'A transcode is already queued or running' },
  delete: { button: 'Delete', done: 'Deleted', same: 'Deleted' },
};

async function runBatch(action, ids, labels) {
  const items = [];
  for (let start = 0; start < ids.length; start += BATCH_MAX) {
    const body = { action, track_ids: ids.slice(start, start + BATCH_MAX) };
    if (labels) body.labels = labels;
    items.push(...(await post('/tracks/batch', body)).items);
  }
  return items;
}

function LabelsForm({ action, count, known, onSubmit, busy, error }) {
  const [value, setValue] = useState('');
  const submit = (event) => {
    event.preventDefault();
    const labels = value
      .split(',')
      .map((label) => label.trim())
      .filter(Boolean);
    if (labels.length) onSubmit(labels);
  };
  return html`<form class="stack" onSubmit=${submit}>
    <p>${action === 'tag' ? 'Add' : 'Remove'} tags ${action === 'tag' ? 'to' : 'from'} ${count} selected track${count === 1 ? '' : 's'}.</p>
    <label>Tags, separated by commas
      <input name="labels" list="library-known-tags" required maxlength="640" value=${value} onInput=${(event) => setValue(event.currentTarget.value)} autofocus />
    </label>
    <datalist id="library-known-tags">${known.map((label) => html`<option key=${label} value=${label} />`)}</datalist>
    <${ErrorMessage} error=${error} />
    <div class="row">
      <button type="submit" disabled=${busy}>${busy ? 'Working…' : BATCH_WORDS[action].button}</button>
    </div>
  </form>`;
}

function ConfirmDelete({ count, onConfirm, onCancel, busy, error }) {
  return html`<div class="stack">
    <p>Delete ${count} track${count === 1 ? '' : 's'} from the catalogue? Their renditions, jobs, tags and playlist entries go too.</p>
    <p class="muted">The source files stay where they are: a later scan of a library that still holds them adds them again.</p>
    <${ErrorMessage} error=${error} />
    <div class="row">
      <button type="button" class="danger" disabled=${busy} onClick=${onConfirm}>${busy ? 'Deleting…' : `Delete ${count} track${count === 1 ? '' : 's'}`}</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>
  </div>`;
}

function BatchResult({ result, onClose }) {
  const words = BATCH_WORDS[result.action];
  const good = result.items.filter((item) => item.ok).length;
  const bad = result.items.length - good;
  return html`<div class="stack">
    <p role="status">${good} succeeded${bad ? `, ${bad} failed` : ''}.</p>
    <div class="table-wrap">
      <table class="batch-result">
        <thead><tr><th scope="col">Track</th><th scope="col">Result</th></tr></thead>
        <tbody>
          ${result.items.map(
            (item) => html`<tr key=${item.track_id} class=${item.ok ? 'ok' : 'failed'}>
              <td>${result.titles.get(item.track_id) || item.track_id}</td>
              <td>
                ${
                  item.ok
                    ? html`<span class="success">✓ ${item.changed ? words.done : words.same}</span>`
                    : html`<span class="error">✗ Failed (${item.status}): ${(item.problem && (item.problem.detail || item.problem.title)) || 'unknown error'}</span>`
                }
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <div class="row"><button type="button" onClick=${onClose}>Done</button></div>
  </div>`;
}

function BatchBar({ selection, known, onDone, onClear }) {
  const [dialog, setDialog] = useState(null); // 'tag' | 'untag' | 'delete' | 'result'
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [result, setResult] = useState(null);
  const count = selection.size;
  const open = (kind) => {
    setError(null);
    setDialog(kind);
  };
  const run = async (action, labels) => {
    const titles = new Map([...selection].map(([id, track]) => [id, titleOf(track)]));
    setBusy(true);
    setError(null);
    try {
      const items = await runBatch(action, [...selection.keys()], labels);
      const failures = items.filter((item) => !item.ok);
      setResult({ action, items, titles });
      setDialog('result');
      const words = BATCH_WORDS[action];
      const good = items.length - failures.length;
      toast(
        `${words.button}: ${good} succeeded${failures.length ? `, ${failures.length} failed` : ''}.`,
        failures.length ? 'error' : 'success',
      );
      onDone(new Set(failures.map((item) => item.track_id)));
    } catch (err) {
      setError(err);
      toast(problemText(err), 'error');
      if (!dialog) setDialog('error');
    } finally {
      setBusy(false);
    }
  };
  const close = () => {
    setDialog(null);
    setError(null);
  };
  const title =
    {
      tag: 'Add tags',
      untag: 'Remove tags',
      delete: 'Delete tracks',
      result: result ? `${BATCH_WORDS[result.action].button}: result` : 'Result',
      error: 'Batch action failed',
    }[dialog] || '';
  // The dialog outlives the selection: a batch that worked clears what it was run on.
  return html`${
    count > 0 &&
    html`<div class="batch-bar row" role="region" aria-label="Batch actions">
      <strong>${count} selected</strong>
      <button type="button" class="secondary small" onClick=${() => open('tag')}>Add tag…</button>
      <button type="button" class="secondary small" onClick=${() => open('untag')}>Remove tag…</button>
      <button type="button" class="secondary small" disabled=${busy} onClick=${() => run('retranscode')}>Re-transcode</button>
      <button type="button" class="danger small" onClick=${() => open('delete')}>Delete…</button>
      <button type="button" class="link small" onClick=${onClear}>Clear selection</button>
    </div>`
  }
    <${Dialog} open=${Boolean(dialog)} title=${title} onClose=${close} wide=${dialog === 'result'}>
      ${
        (dialog === 'tag' || dialog === 'untag') &&
        html`<${LabelsForm} action=${dialog} count=${count} known=${known} busy=${busy} error=${error} onSubmit=${(labels) => run(dialog, labels)} />`
      }
      ${dialog === 'delete' && html`<${ConfirmDelete} count=${count} busy=${busy} error=${error} onConfirm=${() => run('delete')} onCancel=${close} />`}
      ${dialog === 'result' && result && html`<${BatchResult} result=${result} onClose=${close} />`}
      ${dialog === 'error' && html`<${ErrorMessage} error=${error} />`}
    </${Dialog}>`;
}

// --- the page
export default function Library({ user }) {
  useTitle('Library');
  const writer = can(user, 'write');
  const [view, setView] = useState(() => {
    written = location.search;
    return readView();
  });
  const [draft, setDraft] = useState(view);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(true);
  const [libraries, setLibraries] = useState([]);
  const [selection, setSelection] = useState(() => new Map()); // id -> track
  const [tick, setTick] = useState(0); // bump to fetch the same view again, quietly
  const cursors = useRef([]); // cursors of the pages before this one ('' for the first)
  const seen = useRef({ genres: new Set(), codecs: new Set(), labels: new Set() });
  const recentJobs = useRef([]); // [{at, data}]: job events, replayed over a fetch's answer
  const debounce = useRef(null);
  const refetchTimer = useRef(null);
  const shownKey = useRef(null); // the query of the rows on screen

  const viewNow = useRef(view);
  viewNow.current = view;

  // Apply a change of filters or sort: back to the first page.
  const apply = useCallback((changes, { keepPage = false } = {}) => {
    const next = { ...viewNow.current, ...changes };
    if (!keepPage) {
      next.cursor = '';
      next.page = 1;
      cursors.current = [];
    }
    viewNow.current = next;
    writeView(next);
    setView(next);
  }, []);

  // A link to this page with another query (the "Library" tab, say): take its view.
  const path = usePath();
  useEffect(() => {
    if (location.search === written) return;
    clearTimeout(debounce.current);
    cursors.current = [];
    written = location.search;
    setView(readView());
  }, [path]);

  const onDraft = (key, value) => {
    setDraft((current) => ({ ...current, [key]: value }));
    clearTimeout(debounce.current);
    debounce.current = setTimeout(() => apply({ [key]: value }), DEBOUNCE_MS);
  };
  useEffect(() => () => clearTimeout(debounce.current), []);
  // Chips, "Clear filters" and selects change the view directly: the inputs follow.
  useEffect(() => {
    setDraft((current) => {
      const next = { ...current };
      for (const key of FILTERS) if (document.activeElement?.name !== key) next[key] = view[key];
      return next;
    });
  }, [view]);

  useEffect(() => {
    get('/libraries').then(setLibraries, (err) => toast(`Libraries: ${problemText(err)}`, 'error'));
  }, []);

  const queryKey = JSON.stringify(apiQuery(view));
  useEffect(() => {
    const controller = new AbortController();
    const started = performance.now();
    // A new query shows "Updating…"; fetching the same one again (live changes) is quiet.
    if (shownKey.current !== queryKey) setLoading(true);
    get('/tracks', { query: apiQuery(view), signal: controller.signal }).then(
      (answer) => {
        // Job events that arrived while this was in flight are newer than its rows.
        const late = recentJobs.current.filter((entry) => entry.at >= started);
        for (const { data } of late) {
          const track = answer.items.find((item) => item.id === data.track_id);
          if (track) track.job = jobFrom(data);
        }
        for (const track of answer.items) {
          if (track.genre) seen.current.genres.add(track.genre);
          if (track.codec) seen.current.codecs.add(track.codec);
          for (const label of track.labels) seen.current.labels.add(label);
        }
        shownKey.current = queryKey;
        setPage(answer);
        setError(null);
        setLoading(false);
      },
      (err) => {
        if (err.name === 'AbortError') return;
        if (err.status === 422 && view.cursor) {
          // A cursor from an old link or another sort: start again from the first page.
          toast('That page is no longer valid; showing the first page.', 'info');
          apply({});
          return;
        }
        setError(err);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [queryKey, tick]);

  // At most one quiet refetch per 400 ms however many events arrive (a scan sends many).
  const refetchSoon = useCallback(() => {
    if (refetchTimer.current) return;
    refetchTimer.current = setTimeout(() => {
      refetchTimer.current = null;
      setTick((n) => n + 1);
    }, 400);
  }, []);
  useEffect(() => () => clearTimeout(refetchTimer.current), []);

  useEvents(['job', 'track'], ({ type, data }) => {
    if (!data) {
      // {type: 'reset'}: events were missed beyond the server's backlog; read afresh.
      refetchSoon();
      return;
    }
    if (type === 'job') {
      const now = performance.now();
      recentJobs.current = [...recentJobs.current.filter((entry) => now - entry.at < 60_000), { at: now, data }];
      setPage((current) => {
        if (!current?.items.some((track) => track.id === data.track_id)) return current;
        const items = current.items.map((track) =>
          track.id === data.track_id ? { ...track, job: jobFrom(data) } : track,
        );
        return { ...current, items };
      });
      return;
    }
    if (data.action === 'deleted') {
      setPage((current) => {
        if (!current?.items.some((track) => track.id === data.id)) return current;
        const items = current.items.filter((track) => track.id !== data.id);
        return { ...current, items, total: Math.max(0, current.total - 1) };
      });
      setSelection((current) => {
        if (!current.has(data.id)) return current;
        const next = new Map(current);
        next.delete(data.id);
        return next;
      });
    }
    // Created tracks may belong on this page, updated ones may have left the filters.
    refetchSoon();
  });

  // Without the live stream (reconnecting, or blocked on the way), poll while any track
  // shown is waiting for or running a transcode.
  const live = useEventStatus() === 'live';
  const busyJobs = Boolean(page?.items.some((track) => track.job && ACTIVE_JOBS.has(track.job.status)));
  useEffect(() => {
    if (live || !busyJobs) return undefined;
    const timer = setInterval(() => setTick((n) => n + 1), POLL_MS);
    return () => clearInterval(timer);
  }, [live, busyJobs]);

  const onSort = (sort) => apply({ sort });
  const onTag = (label) => {
    if (!view.tag.includes(label)) apply({ tag: [...view.tag, label] });
  };
  const onClear = () => {
    clearTimeout(debounce.current);
    apply({ ...Object.fromEntries(FILTERS.map((key) => [key, ''])), tag: [], tags_mode: 'any' });
  };
  const onSelect = (track, on) =>
    setSelection((current) => {
      const next = new Map(current);
      if (on) next.set(track.id, track);
      else next.delete(track.id);
      return next;
    });
  const onSelectPage = (on) =>
    setSelection((current) => {
      const next = new Map(current);
      for (const track of page.items) {
        if (on) next.set(track.id, track);
        else next.delete(track.id);
      }
      return next;
    });
  const onBatchDone = (failed) => {
    setSelection((current) => new Map([...current].filter(([id]) => failed.has(id))));
    setTick((n) => n + 1);
  };
  const goNext = () => {
    cursors.current = [...cursors.current, view.cursor];
    apply({ cursor: page.next_cursor, page: view.page + 1 }, { keepPage: true });
  };
  const goPrevious = () => {
    const previous = cursors.current.slice(0, -1);
    const cursor = cursors.current[cursors.current.length - 1] || '';
    cursors.current = previous;
    apply({ cursor, page: Math.max(1, view.page - 1) }, { keepPage: true });
  };
  const goFirst = () => apply({});

  const genres = [...seen.current.genres].sort();
  const codecs = [...seen.current.codecs].sort();
  const known = [...seen.current.labels].sort();
  const empty = page && page.items.length === 0;

  return html`<div class="library stack">
    <h1>Library</h1>
    ${writer && html`<${UploadPanel} user=${user} libraries=${libraries} defaultLibrary=${view.library} onUploaded=${refetchSoon} />`}
    <${FilterForm} view=${view} draft=${draft} onDraft=${onDraft} onApply=${apply} libraries=${libraries} genres=${genres} codecs=${codecs} />
    <${TagFilters} view=${view} onApply=${apply} onClear=${onClear} />
    ${writer && html`<${BatchBar} selection=${selection} known=${known} onDone=${onBatchDone} onClear=${() => setSelection(new Map())} />`}
    ${error && html`<div class="row"><${ErrorMessage} error=${error} /><button type="button" class="secondary small" onClick=${() => setTick((n) => n + 1)}>Try again</button></div>`}
    ${!page && loading && html`<${Loading} label="Loading tracks…" />`}
    ${
      page &&
      html`<div class="row list-head">
        <${Count} view=${view} page=${page} />
        ${loading && html`<span class="muted"><span class="spinner" aria-hidden="true"></span> Updating…</span>`}
      </div>
      ${
        empty
          ? html`<div class="card empty">
            ${
              filtered(view)
                ? html`<p>No track matches these filters.</p><button type="button" class="secondary" onClick=${onClear}>Clear filters</button>`
                : view.cursor
                  ? html`<p>This page is empty.</p><button type="button" class="secondary" onClick=${goFirst}>First page</button>`
                  : html`<p>The library is empty.${writer ? ' Drop audio files on the upload panel above to add some.' : ''}</p>`
            }
          </div>`
          : html`<${TrackTable} page=${page} view=${view} selectable=${writer} selection=${selection} onSelect=${onSelect}
            onSelectPage=${onSelectPage} onSort=${onSort} onTag=${onTag} busy=${loading} />`
      }
      <${Paging} view=${view} page=${page} canGoBack=${cursors.current.length > 0} onFirst=${goFirst} onPrevious=${goPrevious} onNext=${goNext} />`
    }
  </div>`;
}
