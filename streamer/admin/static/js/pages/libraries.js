// Libraries: the folders and S3 prefixes catalogued, their scans (live), and for admins
// adding, renaming and removing them.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { del, get, patch, post } from '../api.js';
import { useEvents } from '../events.js';
import { html } from '../html.js';
import { can } from '../session.js';
import { Dialog, ErrorMessage, formatDate, Loading, ProgressBar, problemText, toast, useTitle } from '../ui.js';

function ScanState({ scan }) {
  if (!scan) return html`<span class="muted">never scanned</span>`;
  if (scan.state === 'running') {
    const total = scan.total || 0;
    const label = total ? `${scan.done} of ${total} files` : `${scan.done || 0} files so far`;
    return html`<div class="stack scan-running">
      <span class="badge badge-running">scanning</span>
      ${total ? html`<${ProgressBar} value=${scan.done / total} label="Scan progress" />` : null}
      <span class="muted small">${label}</span>
    </div>`;
  }
  if (scan.state === 'failed') {
    return html`<div class="stack"><span class="badge badge-failed">failed</span><span class="error small">${scan.error}</span></div>`;
  }
  const errors = scan.errors || [];
  return html`<div class="stack">
    <span><span class="badge badge-done">done</span> ${scan.seconds !== undefined ? html`<span class="muted small">in ${scan.seconds} s</span>` : null}</span>
    <span class="small">${scan.added} added · ${scan.changed} changed · ${scan.unchanged} unchanged · ${scan.gone} gone · ${scan.failed} failed</span>
    ${
      errors.length
        ? html`<details class="small"><summary>${errors.length} ${errors.length === 1 ? 'file' : 'files'} could not be read</summary>
          <ul>${errors.map(([key, reason]) => html`<li key=${key}><code>${key}</code>: ${reason}</li>`)}</ul>
        </details>`
        : null
    }
  </div>`;
}

function AddLibrary({ open, onClose, onAdded }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = { root: form.get('root').trim() };
    if (form.get('name').trim()) body.name = form.get('name').trim();
    setBusy(true);
    setError(null);
    try {
      const library = await post('/libraries', body);
      if (form.get('scan')) await post(`/libraries/${library.id}/scan`);
      toast(`Library ${library.name} added`, 'success');
      onAdded(library);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Dialog} open=${open} title="Add a library" onClose=${onClose}>
    <form class="stack" onSubmit=${submit}>
      <label>Folder or S3 prefix
        <input name="root" required placeholder="/srv/music or s3://bucket/prefix" autocomplete="off" />
      </label>
      <p class="muted small">Folders must lie inside the server's <code>library_parents</code> setting.</p>
      <label>Name (optional) <input name="name" maxlength="200" autocomplete="off" /></label>
      <label class="check"><input type="checkbox" name="scan" checked /> Scan it now</label>
      <${ErrorMessage} error=${error} />
      <div class="row"><button type="submit" disabled=${busy}>Add library</button>
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button></div>
    </form>
  <//>`;
}

function Rename({ library, onClose, onSaved }) {
  // defaultValue, not value: the page re-renders on live scan events, and a value prop
  // would put the old name back while someone types.
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const name = new FormData(event.currentTarget).get('name').trim();
    try {
      await patch(`/libraries/${library.id}`, { name });
      toast('Library renamed', 'success');
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return html`<${Dialog} open=${!!library} title="Rename library" onClose=${onClose}>
    ${
      library &&
      html`<form class="stack" onSubmit=${submit}>
      <label>Name <input name="name" required maxlength="200" defaultValue=${library.name} /></label>
      <${ErrorMessage} error=${error} />
      <div class="row"><button type="submit">Save</button>
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button></div>
    </form>`
    }
  <//>`;
}

function Remove({ library, onClose, onRemoved }) {
  const [error, setError] = useState(null);
  const confirm = async () => {
    try {
      await del(`/libraries/${library.id}`);
      toast(`Library ${library.name} removed`, 'success');
      onRemoved();
    } catch (err) {
      setError(err);
    }
  };
  return html`<${Dialog} open=${!!library} title="Remove library" onClose=${onClose}>
    ${
      library &&
      html`<div class="stack">
      <p>Remove <strong>${library.name}</strong> from the catalogue, with its tracks, renditions, jobs and playlist entries?
        No file is deleted: <code>${library.root}</code> stays as it is, and adding it again catalogues it anew.</p>
      <${ErrorMessage} error=${error} />
      <div class="row"><button type="button" class="danger" onClick=${confirm}>Remove</button>
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button></div>
    </div>`
    }
  <//>`;
}

export default function Libraries({ user }) {
  useTitle('Libraries');
  const [libraries, setLibraries] = useState(null);
  const [error, setError] = useState(null);
  const [adding, setAdding] = useState(false);
  const [renaming, setRenaming] = useState(null);
  const [removing, setRemoving] = useState(null);
  const admin = can(user, 'admin');
  const writer = can(user, 'write');

  const load = useCallback(async () => {
    try {
      setLibraries(await get('/libraries'));
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);
  useEffect(() => {
    load();
  }, [load]);

  // Scan progress: instantly from events, and by polling while a scan runs (events may be
  // reconnecting, and progress is written every second or so).
  useEvents(['scan', 'reset'], () => load());
  const running = (libraries || []).some((l) => l.last_scan && l.last_scan.state === 'running');
  useEffect(() => {
    if (!running) return undefined;
    const timer = setInterval(load, 1500);
    return () => clearInterval(timer);
  }, [running, load]);

  const scan = async (library) => {
    try {
      await post(`/libraries/${library.id}/scan`);
      toast(`Scanning ${library.name}…`);
      load();
    } catch (err) {
      toast(problemText(err), 'error');
    }
  };

  return html`<div class="row page-head">
      <h1>Libraries</h1>
      <span class="spacer"></span>
      ${admin && html`<button type="button" onClick=${() => setAdding(true)}>Add library</button>`}
    </div>
    <${ErrorMessage} error=${error} />
    ${
      libraries === null && !error
        ? html`<${Loading} />`
        : libraries && libraries.length === 0
          ? html`<div class="card"><p>No libraries yet.${admin ? ' Add a folder or an S3 prefix to catalogue its audio.' : ''}</p></div>`
          : libraries &&
            html`<div class="table-wrap"><table class="libraries">
            <caption class="visually-hidden">Libraries and their last scan</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Root</th><th scope="col">Last scan</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>${libraries.map(
              (library) => html`<tr key=${library.id}>
                <td><a href=${`/admin/library?library=${library.id}`}>${library.name}</a></td>
                <td><code class="root">${library.root}</code></td>
                <td><${ScanState} scan=${library.last_scan} />
                  ${library.last_scan_at && html`<span class="muted small">${formatDate(library.last_scan_at)}</span>`}</td>
                <td class="actions"><div class="row">
                  ${
                    writer &&
                    html`<button type="button" class="small" disabled=${library.last_scan && library.last_scan.state === 'running'}
                      aria-label=${`Scan now: ${library.name}`} onClick=${() => scan(library)}>Scan now</button>`
                  }
                  ${writer && html`<button type="button" class="small secondary" aria-label=${`Rename: ${library.name}`} onClick=${() => setRenaming(library)}>Rename</button>`}
                  ${admin && html`<button type="button" class="small danger" aria-label=${`Remove: ${library.name}`} onClick=${() => setRemoving(library)}>Remove</button>`}
                </div></td>
              </tr>`,
            )}</tbody>
          </table></div>`
    }
    <${AddLibrary} open=${adding} onClose=${() => setAdding(false)} onAdded=${() => {
      setAdding(false);
      load();
    }} />
    <${Rename} library=${renaming} onClose=${() => setRenaming(null)} onSaved=${() => {
      setRenaming(null);
      load();
    }} />
    <${Remove} library=${removing} onClose=${() => setRemoving(null)} onRemoved=${() => {
      setRemoving(null);
      load();
    }} />`;
}
