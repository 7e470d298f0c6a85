// Confirming the deletion of a revisioned resource (a playlist, a channel). The DELETE
// carries If-Match with the revision as listed: a change made since is shown, never
// deleted blindly.
import { useEffect, useState } from 'preact/hooks';
import { del } from './api.js';
import { html } from './html.js';
import { Dialog, ErrorMessage, problemText, toast } from './ui.js';

// `item` ({id, name, revision}) is the one to delete, or null (closed); `path` its API
// path; `noun` what it is ("playlist"); `after` the rest of the question (what goes with it).
export function DeleteDialog({ item, path, noun, after, onClose, onDeleted }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setError(null), [item]);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await del(path, { headers: { 'If-Match': `"${item.revision}"` } });
      toast(`Deleted “${item.name}”.`, 'success');
      onDeleted();
    } catch (err) {
      if (err.status === 412)
        setError(
          new Error(
            `The ${noun} changed since this list was loaded. Close this, look at it again, and delete it if you still want to.`,
          ),
        );
      else setError(err);
      toast(`Could not delete “${item.name}”: ${problemText(err)}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  return html`<${Dialog} open=${!!item} title=${`Delete ${noun}`} onClose=${onClose}>
    ${
      item &&
      html`<div class="stack">
      <p>Delete <strong>${item.name}</strong>${after}</p>
      <${ErrorMessage} error=${error} />
      <div class="row">
        <button type="button" class="danger" disabled=${busy} onClick=${confirm}>${busy ? 'Deleting…' : 'Delete'}</button>
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    </div>`
    }
  <//>`;
}
