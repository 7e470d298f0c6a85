// /admin/playlists/:id: the playlist editor. Items in order, reordered by drag and drop or
// the keyboard, added from a track search, removed; rename; undo and redo bound to the
// server's revisions, with the history beside; the stitched HLS stream in a player.
//
// Every change goes to the server at once. Moves and removals show before the answer
// (optimistic) and run one after another, each with If-Match of the revision the previous
// one produced; a refusal (412: changed elsewhere, 404: deleted, ...) drops the queued
// ones, says why, and shows the server's state again. Changes made elsewhere arrive as live
// `playlist` events and reload the items.

import Hls from 'hls.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, get, patch, post } from '../api.js';
import { useEvents } from '../events.js';
import { html } from '../html.js';
import { can } from '../session.js';
import { Dialog, ErrorMessage, formatDate, formatDuration, Loading, problemText, toast, useTitle } from '../ui.js';
import { RuleBuilder, RulePreview } from './rule-builder.js';

// Shown in the help overlay; `keys` are alternatives, each a list of keys pressed together.
const SHORTCUTS = [
  { keys: [['↑'], ['↓']], what: 'Select the previous or next item', where: 'list' },
  { keys: [['Home'], ['End']], what: 'Select the first or last item', where: 'list' },
  { keys: [['Alt', '↑']], what: 'Move the selected item up', where: 'list' },
  { keys: [['Alt', '↓']], what: 'Move the selected item down', where: 'list' },
  { keys: [['Delete'], ['Backspace']], what: 'Remove the selected item', where: 'list' },
  { keys: [['Ctrl', 'Z']], what: 'Undo the last change', where: 'page' },
  {
    keys: [
      ['Ctrl', 'Shift', 'Z'],
      ['Ctrl', 'Y'],
    ],
    what: 'Redo the change undone last',
    where: 'page',
  },
  { keys: [['?']], what: 'Show these shortcuts', where: 'page' },
  { keys: [['Esc']], what: 'Close this overlay', where: 'page' },
];

const ACTIONS = {
  'playlist.create': 'Created',
  'playlist.update': 'Details changed',
  'playlist.items': 'Items changed',
};

function moved(items, from, to) {
  const next = items.slice();
  next.splice(to, 0, next.splice(from, 1)[0]);
  return next.map((item, position) => ({ ...item, position }));
}

function removed(items, at) {
  return items.filter((_, n) => n !== at).map((item, position) => ({ ...item, position }));
}

function titleOf(item) {
  return item.title || 'Untitled track';
}

function totalDuration(items) {
  const known = items.filter((item) => item.duration !== null && item.duration !== undefined);
  return known.length ? known.reduce((sum, item) => sum + item.duration, 0) : null;
}

// A short reason for a refused change, for the status line and the toast.
function reasonOf(error) {
  switch (error.status) {
    case 412:
      return 'the playlist was changed elsewhere. Its current state is shown now; make your change again';
    case 404:
      return 'the playlist no longer exists';
    case 403:
      return 'you may not change this playlist';
    case 409:
      return problemText(error);
    default:
      return problemText(error);
  }
}

// "Keys" of the help overlay: each alternative as <kbd>s joined with +.
function Keys({ keys }) {
  return keys.map(
    (combo, n) =>
      html`${n ? html` <span class="muted">or</span> ` : ''}<span class="pl-combo">${combo.map(
        (key, k) => html`${k ? '+' : ''}<kbd>${key}</kbd>`,
      )}</span>`,
  );
}

function HelpDialog({ open, onClose }) {
  return html`<${Dialog} open=${open} title="Keyboard shortcuts" onClose=${onClose}>
    <div class="stack">
      <p>Select an item in the list (click it, or Tab to the list), then:</p>
      <table class="pl-shortcuts">
        <thead><tr><th scope="col">Keys</th><th scope="col">Action</th></tr></thead>
        <tbody>
          ${SHORTCUTS.map(
            (shortcut) => html`<tr key=${shortcut.what}>
              <td class="pl-keys"><${Keys} keys=${shortcut.keys} /></td>
              <td>${shortcut.what}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      <p class="muted">Moves and removals work in the list; undo, redo and ? anywhere on the page outside text fields. On a Mac, ⌘ works in place of Ctrl.</p>
      <div><button type="button" onClick=${onClose}>Close</button></div>
    </div>
  <//>`;
}

function Details({ playlist, libraryName, editable, busy, onSave }) {
  // The form's text lives in state, not only in the inputs: a live update re-rendering the
  // page while someone types must not put the old name back into the field.
  const [draft, setDraft] = useState(null);
  const editing = draft !== null;
  const opener = useRef(null);
  const open = () => setDraft({ name: playlist.name, description: playlist.description || '' });
  const close = () => {
    setDraft(null);
    setTimeout(() => opener.current?.focus());
  };
  const submit = (event) => {
    event.preventDefault();
    // While another change is saving, the form stays open (Save is disabled): a rename
    // is never dropped silently.
    if (busy) return;
    const name = draft.name.trim();
    const description = draft.description.trim();
    close();
    if (name !== playlist.name || description !== (playlist.description || '')) onSave(name, description);
  };
  const edit = (field) => (event) => setDraft((now) => ({ ...now, [field]: event.currentTarget.value }));
  const items = playlist.items;
  const meta = html`<p class="muted pl-meta">
    ${items.length} ${items.length === 1 ? 'item' : 'items'} · ${formatDuration(totalDuration(items))}
    ${libraryName && html` · library “${libraryName}”`} · revision ${playlist.revision} · updated ${formatDate(playlist.updated_at)}
  </p>`;
  if (editing) {
    return html`<form class="stack card pl-details-form" onSubmit=${submit} aria-label="Playlist details">
      <label>Name <input name="name" required maxlength="200" value=${draft.name} onInput=${edit('name')} autocomplete="off" /></label>
      <label>Description <textarea name="description" maxlength="5000" value=${draft.description} onInput=${edit('description')}></textarea></label>
      <div class="row">
        <button type="submit" disabled=${busy}>Save</button>
        <button type="button" class="secondary" onClick=${close}>Cancel</button>
      </div>
    </form>`;
  }
  return html`<div class="pl-details">
    <div class="row">
      <h1>${playlist.name}</h1>
      ${editable && html`<button type="button" class="secondary small" ref=${opener} disabled=${busy} onClick=${open}>Rename</button>`}
    </div>
    ${playlist.description && html`<p class="pl-description">${playlist.description}</p>`}
    ${meta}
  </div>`;
}

function ItemList({ items, selected, onSelect, editable, locked, onMove, listRef, label, playing }) {
  const from = useRef(null);
  const [dragging, setDragging] = useState(null);
  const [slot, setSlot] = useState(null); // where the dragged item would go: before item `slot`
  const end = () => {
    from.current = null;
    setDragging(null);
    setSlot(null);
  };
  const start = (event, index) => {
    from.current = index;
    event.dataTransfer.effectAllowed = 'move';
    event.dataTransfer.setData('text/plain', titleOf(items[index]));
    setDragging(index);
    onSelect(index);
  };
  const over = (event, index) => {
    if (from.current === null) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'move';
    const box = event.currentTarget.getBoundingClientRect();
    const next = event.clientY < box.top + box.height / 2 ? index : index + 1;
    if (next !== slot) setSlot(next);
  };
  const drop = (event) => {
    if (from.current === null) return;
    event.preventDefault();
    const source = from.current;
    const at = slot;
    end();
    if (at === null) return;
    const target = at > source ? at - 1 : at;
    if (target !== source) onMove(source, target);
  };
  // The indicator shows only where a drop would change the order.
  const shown = slot !== null && dragging !== null && slot !== dragging && slot !== dragging + 1 ? slot : null;
  const draggable = editable && !locked;
  return html`<ol
    id="pl-items"
    class=${`pl-items${dragging !== null ? ' pl-dragging' : ''}`}
    role="listbox"
    aria-label=${label}
    tabindex="0"
    ref=${listRef}
    aria-activedescendant=${selected >= 0 ? `pl-item-${selected}` : undefined}
    onDragOver=${(event) => from.current !== null && event.preventDefault()}
    onDrop=${drop}
  >
    ${items.map((item, index) => {
      const classes = ['pl-item'];
      if (index === selected) classes.push('selected');
      if (index === dragging) classes.push('drag-source');
      if (shown === index) classes.push('drop-before');
      if (shown === items.length && index === items.length - 1) classes.push('drop-after');
      return html`<li
        key=${item.key}
        id=${`pl-item-${index}`}
        role="option"
        aria-selected=${index === selected ? 'true' : 'false'}
        class=${classes.join(' ')}
        draggable=${draggable ? 'true' : undefined}
        onClick=${() => onSelect(index)}
        onDragStart=${draggable ? (event) => start(event, index) : undefined}
        onDragOver=${draggable ? (event) => over(event, index) : undefined}
        onDragEnd=${draggable ? end : undefined}
      >
        ${editable && html`<span class="pl-handle" aria-hidden="true" title="Drag to reorder">⠿</span>`}
        <span class="pl-pos">${index + 1}</span>
        <span class="pl-main">
          <span class="pl-title">${titleOf(item)}</span>
          <span class="pl-artist">${item.artist || ''}</span>
        </span>
        ${playing === item.track_id && html`<span class="badge badge-ok pl-playing">Playing</span>`}
        <span class="pl-duration">${formatDuration(item.duration)}</span>
      </li>`;
    })}
  </ol>`;
}

function AddTracks({ selected, selectedItem, busy, onAdd }) {
  const [q, setQ] = useState('');
  const [results, setResults] = useState(null);
  const [error, setError] = useState(null);
  const [where, setWhere] = useState('end');
  useEffect(() => {
    const words = q.trim();
    if (!words) {
      setResults(null);
      setError(null);
      return undefined;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      get('/tracks', { query: { q: words, status: 'ok', limit: 10, sort: 'title' }, signal: controller.signal }).then(
        (page) => {
          setResults(page);
          setError(null);
        },
        (err) => err.name !== 'AbortError' && setError(err),
      );
    }, 200);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [q]);
  const after = where === 'after' && selected >= 0;
  return html`<section class="card stack pl-add" aria-labelledby="pl-add-heading">
    <h2 id="pl-add-heading">Add tracks</h2>
    <label>Search tracks <input type="search" value=${q} onInput=${(e) => setQ(e.currentTarget.value)} maxlength="200" autocomplete="off" placeholder="Title, artist, album…" /></label>
    <fieldset class="pl-where">
      <legend>Add</legend>
      <label class="check"><input type="radio" name="pl-where" value="end" checked=${!after} onChange=${() => setWhere('end')} /> At the end</label>
      <label class="check"><input type="radio" name="pl-where" value="after" checked=${after} disabled=${selected < 0} onChange=${() => setWhere('after')} />
        After the selected item${selectedItem ? ` (${selected + 1}. ${titleOf(selectedItem)})` : ''}</label>
    </fieldset>
    <${ErrorMessage} error=${error} />
    ${
      results &&
      (results.items.length
        ? html`<ul class="pl-results" aria-label="Tracks found">
          ${results.items.map(
            (track) => html`<li key=${track.id}>
              <span class="pl-main">
                <span class="pl-title">${track.title || track.path}</span>
                <span class="pl-artist">${track.artist || ''}</span>
              </span>
              <span class="pl-duration">${formatDuration(track.duration)}</span>
              <button type="button" class="small" disabled=${busy} aria-label=${`Add ${track.title || track.path}`}
                onClick=${() => onAdd(track, after ? selected + 1 : null)}>Add</button>
            </li>`,
          )}
        </ul>
        ${results.total > results.items.length && html`<p class="muted">${results.total - results.items.length} more: type more of the name.</p>`}`
        : html`<p class="muted" role="status">No tracks match “${q.trim()}”.</p>`)
    }
  </section>`;
}

// The part of a segment URL that names its track: .../{rendition}/seg/{track}/{n}.m4s?v=&t=
const SEGMENT_TRACK = /\/seg\/([0-9a-f]{16})\/\d+\.m4s/;

function Player({ playlist, items, onPart, playingTitle }) {
  const audio = useRef(null);
  const hls = useRef(null);
  const part = useRef(null); // the track whose segment plays now
  const [state, setState] = useState({ kind: 'loading' });
  const [paused, setPaused] = useState(true);
  const [loaded, setLoaded] = useState(null); // the revision the stream was loaded at
  const url = playlist.urls.hls;
  const empty = items.length === 0;

  const stop = () => {
    if (hls.current) hls.current.destroy();
    hls.current = null;
    part.current = null;
    onPart(null);
  };
  // The list marks the track playing now: only while the audio plays.
  const show = (isPaused) => {
    setPaused(isPaused);
    onPart(isPaused ? null : part.current);
  };
  const start = () => {
    stop();
    const element = audio.current;
    if (!element) return;
    setLoaded(playlist.revision);
    setState({ kind: 'loading' });
    if (Hls.isSupported()) {
      // No worker: the admin's CSP allows scripts from 'self' only (no blob: workers), and
      // fMP4 audio needs no transmuxing anyway.
      const player = new Hls({ enableWorker: false });
      hls.current = player;
      player.on(Hls.Events.MANIFEST_PARSED, () => setState({ kind: 'ready' }));
      player.on(Hls.Events.FRAG_CHANGED, (_, data) => {
        const found = SEGMENT_TRACK.exec(data.frag.url || '');
        part.current = found ? found[1] : null;
        if (!audio.current.paused) onPart(part.current);
      });
      player.on(Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        const code = data.response?.code;
        const message =
          code === 404
            ? 'Nothing in this playlist can be played yet: its tracks are still being transcoded, or failed.'
            : `The stream stopped: ${data.details}${code ? ` (HTTP ${code})` : ''}.`;
        setState({ kind: 'error', message });
        stop();
      });
      player.loadSource(url);
      player.attachMedia(element);
    } else if (element.canPlayType('application/vnd.apple.mpegurl')) {
      element.src = url; // Safari plays HLS itself
      setState({ kind: 'ready' });
    } else {
      setState({ kind: 'error', message: 'This browser cannot play HLS streams.' });
    }
  };

  useEffect(() => {
    if (!empty) start();
    return stop;
  }, [empty]);

  // An edit changes the stream. Reload it by itself when nothing is playing (after the
  // streamer's few seconds of stream cache); while playing, offer to.
  const stale = loaded !== null && loaded !== playlist.revision;
  useEffect(() => {
    const element = audio.current;
    if (!stale || !element || !(element.paused && (element.currentTime === 0 || element.ended))) return undefined;
    const timer = setTimeout(start, 2500);
    return () => clearTimeout(timer);
  }, [stale, playlist.revision]);

  return html`<section class="card stack pl-player" aria-labelledby="pl-player-heading">
    <h2 id="pl-player-heading">Listen</h2>
    ${
      empty
        ? html`<p class="muted">Add tracks to play the playlist as one stream.</p>`
        : html`<audio ref=${audio} controls preload="metadata" aria-label=${`Play ${playlist.name}`}
          onPlaying=${() => show(false)} onPause=${() => show(true)} onEnded=${() => show(true)}></audio>
        ${state.kind === 'loading' && html`<${Loading} label="Loading the stream…" />`}
        ${state.kind === 'error' && html`<p class="error" role="alert">${state.message}</p>`}
        <p class="muted pl-now" aria-live="polite">${playingTitle && !paused ? html`Now playing: <strong>${playingTitle}</strong>` : ''}</p>
        ${
          stale &&
          html`<div class="row"><span class="muted">The playlist changed since the stream loaded.</span>
          <button type="button" class="secondary small" onClick=${start}>Reload the stream</button></div>`
        }`
    }
    <p class="muted small"><a href=${url}>HLS stream URL</a> (plays every transcoded track in order, as one stream)</p>
  </section>`;
}

function describeRevision(revision, older) {
  if (!older) return `${ACTIONS[revision.action] || revision.action}: ${revision.track_ids.length} items`;
  const parts = [];
  if (revision.name !== older.name) parts.push(`renamed to “${revision.name}”`);
  if (revision.description !== older.description) parts.push('description changed');
  const now = revision.track_ids.length;
  const before = older.track_ids.length;
  if (now > before) parts.push(`${now - before} added`);
  else if (now < before) parts.push(`${before - now} removed`);
  else if (revision.track_ids.join() !== older.track_ids.join()) parts.push('reordered');
  return `${parts.length ? parts.join(', ') : ACTIONS[revision.action] || revision.action} · ${now} items`;
}

function formatWhen(value) {
  const date = new Date(value);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString(undefined, { timeStyle: 'medium' }) : formatDate(value);
}

function History({ id, version, current }) {
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const controller = new AbortController();
    get(`/playlists/${id}/revisions`, { query: { limit: 30 }, signal: controller.signal }).then(
      (answer) => {
        setPage(answer);
        setError(null);
      },
      (err) => err.name !== 'AbortError' && setError(err),
    );
    return () => controller.abort();
  }, [id, version]);
  return html`<section class="card stack pl-history" aria-labelledby="pl-history-heading">
    <h2 id="pl-history-heading">History</h2>
    <${ErrorMessage} error=${error} />
    ${!page && !error && html`<${Loading} />`}
    ${
      page &&
      html`<ol class="pl-revisions" aria-label="Revisions, newest first">
      ${page.items.map((revision, n) => {
        const undone = revision.revision > current;
        return html`<li key=${revision.revision} class=${revision.current ? 'current' : undone ? 'undone' : ''}
          aria-current=${revision.current ? 'step' : undefined}>
          <span class="pl-rev">#${revision.revision}</span>
          <span class="pl-rev-what">${describeRevision(revision, page.items[n + 1])}
            ${revision.current && html` <span class="badge badge-ok">current</span>`}
            ${undone && html` <span class="badge">undone</span>`}</span>
          <span class="muted pl-rev-who">${revision.actor || 'unknown'} · <time datetime=${revision.created_at}>${formatWhen(revision.created_at)}</time></span>
        </li>`;
      })}
    </ol>
    ${page.total > page.items.length && html`<p class="muted">The ${page.items.length} newest of ${page.total} revisions.</p>`}`
    }
  </section>`;
}

// A smart playlist's rule: edited as a draft, previewed live, saved as one revision.
function SmartRules({ playlist, editable, busy, onSave }) {
  const saved = JSON.stringify(playlist.rules);
  const [draft, setDraft] = useState(playlist.rules);
  // Undo, redo and changes made elsewhere show the rule they bring.
  useEffect(() => setDraft(playlist.rules), [saved]);
  const dirty = JSON.stringify(draft) !== saved;
  return html`<div class="pl-smart">
    <section class="card stack rb-editor" aria-labelledby="rb-heading">
      <h2 id="rb-heading">Rules</h2>
      <p class="muted small">The tracks of this smart playlist are chosen by these rules each time it is played${
        playlist.rules?.libraries ? '' : ', from this playlist’s library'
      }.</p>
      <${RuleBuilder} rule=${draft} libraryId=${playlist.library_id} disabled=${!editable} onChange=${setDraft} />
      ${
        editable &&
        html`<div class="row">
        <button type="button" disabled=${busy || !dirty} onClick=${() => onSave(draft)}>Save rules</button>
        <button type="button" class="secondary" disabled=${!dirty} onClick=${() => setDraft(playlist.rules)}>Discard changes</button>
      </div>`
      }
    </section>
    <${RulePreview} rule=${draft} libraryId=${playlist.library_id} />
  </div>`;
}

function withKeys(playlist) {
  // Stable keys for rendering: a track's id and which occurrence of it this is.
  const seen = {};
  const items = playlist.items.map((item) => {
    seen[item.track_id] = (seen[item.track_id] || 0) + 1;
    return { ...item, key: `${item.track_id}:${seen[item.track_id]}` };
  });
  return { ...playlist, items };
}

export default function PlaylistEditor({ id, user }) {
  const writer = can(user, 'write');
  const [playlist, setPlaylistState] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [gone, setGone] = useState(false);
  const [selected, setSelected] = useState(-1);
  const [status, setStatus] = useState({ kind: 'idle', text: '' });
  const [busy, setBusy] = useState(0); // changes whose outcome is not shown yet: edits wait
  const [helpOpen, setHelpOpen] = useState(false);
  const [historyVersion, setHistoryVersion] = useState(0);
  const [libraryName, setLibraryName] = useState('');
  const [playing, setPlaying] = useState(null);
  useTitle(playlist ? playlist.name : 'Playlist');

  const revision = useRef(null); // the server's revision as this page last knew it
  const queue = useRef(Promise.resolve());
  const generation = useRef(0); // bumped by a failure: queued changes made before it are dropped
  const pending = useRef(0);
  const recheck = useRef(false); // an event came while changes were in flight
  const listRef = useRef(null);
  const latest = useRef({});

  const setPlaylist = (next) =>
    setPlaylistState((current) => withKeys(typeof next === 'function' ? next(current) : next));
  const adopt = (body) => {
    revision.current = body.revision;
    setPlaylist(body);
    setSelected((n) => Math.min(n, body.items.length - 1));
    setHistoryVersion((n) => n + 1);
  };

  const load = async () => {
    const body = await get(`/playlists/${id}`);
    adopt(body);
    return body;
  };

  useEffect(() => {
    setPlaylistState(null);
    setLoadError(null);
    setGone(false);
    load().catch(setLoadError);
  }, [id]);

  useEffect(() => {
    if (!playlist) return;
    get('/libraries').then(
      (libraries) => {
        const found = libraries.find((library) => library.id === playlist.library_id);
        setLibraryName(found ? found.name : '');
      },
      () => setLibraryName(''),
    );
  }, [playlist?.library_id]);

  // Leaving with a change on its way loses it: ask first.
  useEffect(() => {
    const warn = (event) => {
      if (pending.current > 0) event.preventDefault();
    };
    addEventListener('beforeunload', warn);
    return () => removeEventListener('beforeunload', warn);
  }, []);

  const failed = async (doing, error) => {
    const reason = reasonOf(error);
    setStatus({ kind: 'failed', text: `Failed: ${reason}.` });
    toast(`Could not ${doing}: ${reason}.`, 'error');
    if (error.status === 404) {
      setGone(true);
      return;
    }
    setBusy((n) => n + 1);
    try {
      await load();
    } catch (err) {
      if (err.status === 404) setGone(true);
    } finally {
      setBusy((n) => n - 1);
    }
  };

  // A change made elsewhere (or our own, seen through events): show it if it is newer.
  const refresh = async () => {
    const before = revision.current;
    let body;
    try {
      body = await get(`/playlists/${id}`);
    } catch (err) {
      if (err.status === 404) setGone(true);
      return;
    }
    if (pending.current > 0 || body.revision === before) return;
    adopt(body);
    setStatus({ kind: 'remote', text: `Updated: changed elsewhere (revision ${body.revision}).` });
    toast('This playlist was changed elsewhere: showing the new version.', 'info');
  };

  // change({doing, done, send, optimistic, after}): send(headers) makes the request;
  // optimistic(playlist) is the state to show meanwhile (none: edits wait for the answer).
  const change = ({ doing, done, send, optimistic, after }) => {
    const ticket = generation.current;
    pending.current += 1;
    if (optimistic) setPlaylist(optimistic);
    else setBusy((n) => n + 1);
    setStatus({ kind: 'saving', text: 'Saving…' });
    const run = async () => {
      try {
        if (ticket !== generation.current) return;
        const body = await send({ 'If-Match': `"${revision.current}"` });
        if (ticket !== generation.current) return;
        revision.current = body.revision;
        // Later queued changes already show; the last answer is the whole truth.
        if (pending.current === 1) {
          setPlaylist(body);
          setStatus({ kind: 'saved', text: `Saved. ${done}.` });
        }
        setHistoryVersion((n) => n + 1);
        if (after) after(body);
      } catch (error) {
        if (ticket !== generation.current) return;
        generation.current += 1;
        await failed(doing, error);
      } finally {
        pending.current -= 1;
        if (!optimistic) setBusy((n) => n - 1);
        if (pending.current === 0 && recheck.current) {
          recheck.current = false;
          refresh();
        }
      }
    };
    queue.current = queue.current.then(run);
    return queue.current;
  };

  useEvents(['playlist'], ({ data }) => {
    if (!data || data.id !== id) return;
    if (data.action === 'deleted') {
      setGone(true);
      setStatus({ kind: 'failed', text: 'Failed: the playlist was deleted elsewhere.' });
      toast('This playlist was deleted elsewhere.', 'error');
      return;
    }
    if (pending.current > 0) recheck.current = true;
    else if (data.revision !== revision.current) refresh();
  });

  const editable = writer && !gone;
  const smart = !!playlist?.rules; // items computed from the rules: not edited one by one
  const items = playlist ? playlist.items : [];
  const locked = busy > 0;
  useEffect(() => {
    if (selected >= items.length) setSelected(items.length - 1);
  }, [items.length]);

  const moveItem = (from, to) => {
    if (!editable || smart || locked || from < 0 || from >= items.length || to < 0 || to >= items.length || from === to)
      return;
    const title = titleOf(items[from]);
    setSelected(to);
    change({
      doing: `move “${title}”`,
      done: `Moved “${title}” to position ${to + 1}`,
      send: (headers) => post(`/playlists/${id}/items/move`, { from, to }, { headers }),
      optimistic: (current) => ({ ...current, items: moved(current.items, from, to) }),
    });
  };
  const removeItem = (at) => {
    if (!editable || smart || locked || at < 0 || at >= items.length) return;
    const title = titleOf(items[at]);
    setSelected(Math.min(at, items.length - 2));
    change({
      doing: `remove “${title}”`,
      done: `Removed “${title}”`,
      send: (headers) => del(`/playlists/${id}/items/${at}`, { headers }),
      optimistic: (current) => ({ ...current, items: removed(current.items, at), item_count: current.item_count - 1 }),
    });
  };
  const addTrack = (track, position) => {
    if (!editable || locked) return;
    const title = track.title || track.path;
    const at = position === null ? items.length : position;
    change({
      doing: `add “${title}”`,
      done: `Added “${title}” at position ${at + 1}`,
      send: (headers) =>
        post(
          `/playlists/${id}/items`,
          position === null ? { track_ids: [track.id] } : { track_ids: [track.id], position },
          { headers },
        ),
      after: () => setSelected(at),
    });
  };
  const step = (direction) => {
    if (!editable || locked) return;
    if (direction === 'undo' ? !playlist.can_undo : !playlist.can_redo) {
      setStatus({ kind: 'idle', text: `Nothing to ${direction}.` });
      return;
    }
    change({
      doing: direction,
      done: direction === 'undo' ? 'Undid the last change' : 'Redid the change',
      send: (headers) => post(`/playlists/${id}/${direction}`, undefined, { headers }),
    });
  };
  const rename = (name, description) => {
    if (!editable || locked) return;
    change({
      doing: 'save the name and description',
      done: name !== playlist.name ? `Renamed to “${name}”` : 'Description saved',
      send: (headers) => patch(`/playlists/${id}`, { name, description }, { headers }),
    });
  };
  const saveRules = (rules) => {
    if (!editable || locked) return;
    change({
      doing: 'save the rules',
      done: 'Rules saved',
      send: (headers) => patch(`/playlists/${id}`, { rules }, { headers }),
    });
  };
  const select = (index) => {
    if (!items.length) return;
    const next = Math.max(0, Math.min(items.length - 1, index));
    setSelected(next);
    const element = document.getElementById(`pl-item-${next}`);
    if (element) element.scrollIntoView({ block: 'nearest' });
  };

  latest.current = { editable, selected, items, moveItem, removeItem, step, select, writer };
  useEffect(() => {
    const onKey = (event) => {
      if (event.defaultPrevented || event.isComposing) return;
      const target = event.target;
      if (target.closest?.('input, textarea, select, [contenteditable]')) return;
      if (document.querySelector('dialog[open]')) return; // the overlay handles its keys
      const now = latest.current;
      const key = event.key;
      const ctrl = event.ctrlKey || event.metaKey;
      const inList = listRef.current?.contains(target);
      let handled = true;
      if (key === '?' && now.writer) setHelpOpen(true);
      else if (ctrl && !event.altKey && (key === 'z' || key === 'Z')) now.step(event.shiftKey ? 'redo' : 'undo');
      else if (ctrl && !event.altKey && !event.shiftKey && (key === 'y' || key === 'Y')) now.step('redo');
      else if (!inList || ctrl) handled = false;
      else if (event.altKey && key === 'ArrowUp') now.moveItem(now.selected, now.selected - 1);
      else if (event.altKey && key === 'ArrowDown') now.moveItem(now.selected, now.selected + 1);
      else if (event.altKey) handled = false;
      else if (key === 'ArrowUp') now.select(now.selected < 0 ? 0 : now.selected - 1);
      else if (key === 'ArrowDown') now.select(now.selected + 1);
      else if (key === 'Home') now.select(0);
      else if (key === 'End') now.select(now.items.length - 1);
      else if (key === 'Delete' || key === 'Backspace') now.removeItem(now.selected);
      else handled = false;
      if (handled) event.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  if (loadError) {
    return html`<div class="stack">
      <h1>${loadError.status === 404 ? 'No such playlist' : 'Playlist'}</h1>
      <${ErrorMessage} error=${loadError} />
      <p><a href="/admin/playlists">Back to the playlists</a></p>
    </div>`;
  }
  if (!playlist) return html`<${Loading} label="Loading the playlist…" />`;

  const selectedItem = selected >= 0 ? items[selected] : null;
  const playingItem = playing && items.find((item) => item.track_id === playing);
  return html`<div class="stack pl-editor">
    <nav aria-label="Breadcrumb" class="pl-crumbs"><a href="/admin/playlists">Playlists</a></nav>
    <${Details} playlist=${playlist} libraryName=${libraryName} editable=${editable} busy=${locked} onSave=${rename} />
    ${gone && html`<p class="notice" role="alert">This playlist no longer exists: it was deleted. <a href="/admin/playlists">Back to the playlists</a></p>`}
    ${!writer && html`<p class="muted">Read only: your role (${user.role}) cannot change playlists.</p>`}
    ${smart && html`<${SmartRules} playlist=${playlist} editable=${editable} busy=${locked} onSave=${saveRules} />`}
    <div class="pl-layout">
      <section class="stack pl-list" aria-labelledby="pl-items-heading">
        <h2 id="pl-items-heading" class="pl-sr-only">Items</h2>
        ${
          editable &&
          html`<div class="pl-toolbar" role="group" aria-label="Edit the playlist">
          ${
            !smart &&
            html`<button type="button" class="secondary small" aria-keyshortcuts="Alt+ArrowUp" disabled=${locked || selected <= 0}
            onClick=${() => moveItem(selected, selected - 1)}>↑ Move up</button>
          <button type="button" class="secondary small" aria-keyshortcuts="Alt+ArrowDown" disabled=${locked || selected < 0 || selected >= items.length - 1}
            onClick=${() => moveItem(selected, selected + 1)}>↓ Move down</button>
          <button type="button" class="secondary small" aria-keyshortcuts="Delete" disabled=${locked || selected < 0}
            onClick=${() => removeItem(selected)}>Remove</button>
          <span class="pl-separator" aria-hidden="true"></span>`
          }
          <button type="button" class="secondary small" aria-keyshortcuts="Control+Z" disabled=${locked || !playlist.can_undo}
            onClick=${() => step('undo')}>↶ Undo</button>
          <button type="button" class="secondary small" aria-keyshortcuts="Control+Shift+Z Control+Y" disabled=${locked || !playlist.can_redo}
            onClick=${() => step('redo')}>↷ Redo</button>
          <span class="spacer"></span>
          <button type="button" class="link small" aria-keyshortcuts="?" onClick=${() => setHelpOpen(true)}>Keyboard shortcuts</button>
        </div>`
        }
        ${writer && html`<p class=${`pl-status pl-status-${status.kind}`} role="status">${status.kind === 'failed' ? '' : status.text}</p>`}
        ${status.kind === 'failed' && html`<p class="error pl-status-failed" role="alert">${status.text}</p>`}
        ${
          items.length
            ? html`<${ItemList}
              items=${items}
              selected=${selected}
              onSelect=${select}
              editable=${editable && !smart}
              locked=${locked}
              onMove=${moveItem}
              listRef=${listRef}
              label=${`Items of ${playlist.name}`}
              playing=${playing}
            />
            ${editable && !smart && html`<p class="muted small pl-hint">Drag items to reorder them, or select one and use the keyboard (press <kbd>?</kbd> for the shortcuts).</p>`}`
            : html`<div class="card pl-empty"><p><strong>${smart ? 'No track matches the rules.' : 'This playlist is empty.'}</strong></p>
              ${editable && !smart ? html`<p class="muted">Search for tracks and add them.</p>` : null}</div>`
        }
      </section>
      <div class="stack pl-side">
        ${editable && !smart && html`<${AddTracks} selected=${selected} selectedItem=${selectedItem} busy=${locked} onAdd=${addTrack} />`}
        <${Player} playlist=${playlist} items=${items} onPart=${setPlaying} playingTitle=${playingItem ? titleOf(playingItem) : null} />
        <${History} id=${id} version=${historyVersion} current=${playlist.revision} />
      </div>
    </div>
    ${writer && html`<${HelpDialog} open=${helpOpen} onClose=${() => setHelpOpen(false)} />`}
  </div>`;
}
