// /admin/playlists: the playlists the user can read, searched by name and filtered by
// library, paged; writers create (in a dialog) and delete (after confirming) them. The list
// follows changes made elsewhere through the live `playlist` events.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { DeleteDialog } from '../delete_dialog.js';
import { useEvents } from '../events.js';
import { html } from '../html.js';
import { navigate, queryParams, setQuery } from '../router.js';
import { can } from '../session.js';
import {
  Dialog,
  ErrorMessage,
  formatDate,
  formatDuration,
  Loading,
  Pager,
  problemText,
  toast,
  useTitle,
} from '../ui.js';
import { EMPTY_RULE } from './rule-builder.js';

const PAGE = 50;

function CreateDialog({ open, libraries, initialLibrary, onClose }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  // The chosen library lives in state: a re-render (live events) must not put the
  // initial choice back.
  const [chosen, setChosen] = useState(null);
  const libraryId = chosen || initialLibrary || libraries[0]?.id || '';
  useEffect(() => {
    if (open) setError(null);
  }, [open]);
  const submit = async (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const body = {
        library_id: data.get('library_id'),
        name: data.get('name').trim(),
        description: data.get('description').trim(),
      };
      // A smart playlist starts with a rule the editor page then shapes (with a preview).
      if (data.get('smart')) body.rules = EMPTY_RULE;
      const created = await post('/playlists', body);
      toast(`Created “${created.name}”.`, 'success');
      onClose();
      navigate(`/admin/playlists/${created.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Dialog} open=${open} title="New playlist" onClose=${onClose}>
    <form class="stack" onSubmit=${submit}>
      <label>Name <input name="name" required maxlength="200" autocomplete="off" /></label>
      <label>Library
        <select name="library_id" required value=${libraryId} onChange=${(event) => setChosen(event.currentTarget.value)}>
          ${libraries.map((library) => html`<option key=${library.id} value=${library.id}>${library.name}</option>`)}
        </select>
      </label>
      <label>Description <span class="muted pl-optional">(optional)</span>
        <textarea name="description" maxlength="5000"></textarea>
      </label>
      <label class="row pl-smart-choice"><input type="checkbox" name="smart" value="1" />
        Smart playlist: its tracks are chosen by rules (genre, year, added date…)</label>
      <${ErrorMessage} error=${error} />
      <div class="row">
        <button type="submit" disabled=${busy || !libraries.length}>${busy ? 'Creating…' : 'Create playlist'}</button>
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    </form>
  <//>`;
}

export default function Playlists({ user }) {
  useTitle('Playlists');
  const writer = can(user, 'write');
  const initial = queryParams();
  const [q, setQ] = useState(initial.q || '');
  const [search, setSearch] = useState(initial.q || ''); // q, debounced
  const [library, setLibrary] = useState(initial.library || '');
  const [offset, setOffset] = useState(Math.max(0, parseInt(initial.offset, 10) || 0));
  const [libraries, setLibraries] = useState([]);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [reloads, setReloads] = useState(0);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState(null);
  const createButton = useRef(null);

  useEffect(() => {
    get('/libraries').then(setLibraries, (err) => toast(`Could not load the libraries: ${problemText(err)}`, 'error'));
  }, []);

  useEffect(() => {
    const timer = setTimeout(() => setSearch(q.trim()), 250);
    return () => clearTimeout(timer);
  }, [q]);

  useEffect(() => {
    setQuery({ q: search, library, offset: offset || undefined });
    const controller = new AbortController();
    setError(null);
    get('/playlists', { query: { q: search, library, limit: PAGE, offset }, signal: controller.signal }).then(
      (answer) => {
        // Past the end (rows deleted meanwhile): go back to the last page there is.
        if (!answer.items.length && answer.total && offset)
          setOffset(Math.max(0, Math.floor((answer.total - 1) / PAGE) * PAGE));
        else setPage(answer);
      },
      (err) => err.name !== 'AbortError' && setError(err),
    );
    return () => controller.abort();
  }, [search, library, offset, reloads]);

  // Playlists created, changed or deleted anywhere (this browser included).
  const pending = useRef(null);
  useEvents(['playlist'], () => {
    clearTimeout(pending.current);
    pending.current = setTimeout(() => setReloads((n) => n + 1), 300);
  });
  useEffect(() => () => clearTimeout(pending.current), []);

  const names = Object.fromEntries(libraries.map((l) => [l.id, l.name]));
  const filtered = search || library;
  const changeSearch = (event) => {
    setQ(event.currentTarget.value);
    setOffset(0);
  };
  const changeLibrary = (event) => {
    setLibrary(event.currentTarget.value);
    setOffset(0);
  };
  const clear = () => {
    setQ('');
    setSearch('');
    setLibrary('');
    setOffset(0);
  };

  let body;
  if (error) {
    body = html`<div class="stack"><${ErrorMessage} error=${error} />
      <button type="button" onClick=${() => setReloads((n) => n + 1)}>Try again</button></div>`;
  } else if (!page) {
    body = html`<${Loading} label="Loading playlists…" />`;
  } else if (!page.items.length) {
    body = filtered
      ? html`<div class="card pl-empty"><p>No playlists match ${search ? html`“${search}”` : 'this library'}.</p>
          <button type="button" class="secondary" onClick=${clear}>Clear the search</button></div>`
      : html`<div class="card pl-empty">
          <p><strong>No playlists yet.</strong></p>
          <p class="muted">A playlist is an ordered list of tracks that plays as one stream.</p>
          ${writer && html`<button type="button" onClick=${() => setCreating(true)}>Create the first playlist</button>`}
        </div>`;
  } else {
    const last = Math.min(page.total, offset + page.items.length);
    body = html`<p class="muted" aria-live="polite">${offset + 1}–${last} of ${page.total} ${page.total === 1 ? 'playlist' : 'playlists'}</p>
      <div class="table-wrap">
        <table class="pl-table">
          <caption class="pl-sr-only">Playlists</caption>
          <thead><tr>
            <th scope="col">Name</th>
            <th scope="col" class="hide-phone">Library</th>
            <th scope="col" class="num">Items</th>
            <th scope="col" class="num">Duration</th>
            <th scope="col" class="hide-phone">Updated</th>
            ${writer && html`<th scope="col"><span class="pl-sr-only">Actions</span></th>`}
          </tr></thead>
          <tbody>
            ${page.items.map(
              (playlist) => html`<tr key=${playlist.id}>
                <td><a href=${`/admin/playlists/${playlist.id}`}>${playlist.name}</a>
                  ${playlist.rules && html` <span class="badge pl-smart-badge">smart</span>`}
                  ${playlist.description && html`<div class="muted pl-description">${playlist.description}</div>`}</td>
                <td class="hide-phone">${names[playlist.library_id] || playlist.library_id}</td>
                <td class="num">${playlist.item_count}</td>
                <td class="num">${formatDuration(playlist.duration)}</td>
                <td class="hide-phone">${formatDate(playlist.updated_at)}</td>
                ${
                  writer &&
                  html`<td class="pl-actions">
                  <button type="button" class="secondary small" aria-label=${`Delete ${playlist.name}`} onClick=${() => setDeleting(playlist)}>Delete</button>
                </td>`
                }
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
      <${Pager}
        label="Playlist pages"
        previous=${offset > 0}
        next=${offset + PAGE < page.total}
        onPrevious=${() => setOffset(Math.max(0, offset - PAGE))}
        onNext=${() => setOffset(offset + PAGE)}
      />`;
  }

  const closeCreate = () => {
    setCreating(false);
    if (createButton.current) createButton.current.focus();
  };
  return html`<div class="stack">
    <div class="row pl-heading">
      <h1>Playlists</h1>
      <span class="spacer"></span>
      ${writer && html`<button type="button" ref=${createButton} onClick=${() => setCreating(true)}>New playlist</button>`}
    </div>
    <form class="inline-form pl-filters" role="search" aria-label="Playlists" onSubmit=${(e) => e.preventDefault()}>
      <label>Search by name <input type="search" value=${q} onInput=${changeSearch} maxlength="200" autocomplete="off" /></label>
      ${
        libraries.length > 1 &&
        html`<label>Library
        <select value=${library} onChange=${changeLibrary}>
          <option value="">All libraries</option>
          ${libraries.map((l) => html`<option key=${l.id} value=${l.id}>${l.name}</option>`)}
        </select>
      </label>`
      }
    </form>
    ${body}
    ${writer && html`<${CreateDialog} open=${creating} libraries=${libraries} initialLibrary=${library} onClose=${closeCreate} />`}
    ${
      writer &&
      html`<${DeleteDialog}
      item=${deleting}
      path=${deleting && `/playlists/${deleting.id}`}
      noun="playlist"
      after=${deleting && `? Its ${deleting.item_count} ${deleting.item_count === 1 ? 'item' : 'items'} and its history go with it. This cannot be undone.`}
      onClose=${() => setDeleting(null)}
      onDeleted=${() => {
        setDeleting(null);
        setReloads((n) => n + 1);
      }}
    />`
    }
  </div>`;
}
