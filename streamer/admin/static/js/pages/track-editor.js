// The track page's metadata editor: PATCH /tracks/{id} with If-Match. A 412 (someone else
// saved first) never loses what was typed: the form is rebased on the server's version,
// and each field both sides changed is shown with both values to keep one or the other.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, get } from '../api.js';
import { html } from '../html.js';
import { problemText, toast } from '../ui.js';

// The fields PATCH /tracks/{id} accepts (streamer/routes/api_track_edits.py TrackPatch).
export const FIELDS = [
  { name: 'title', label: 'Title' },
  { name: 'artist', label: 'Artist' },
  { name: 'album', label: 'Album' },
  { name: 'album_artist', label: 'Album artist' },
  { name: 'genre', label: 'Genre' },
  { name: 'year', label: 'Year', number: true, max: 9999 },
  { name: 'track_number', label: 'Track number', number: true, max: 2 ** 31 - 1 },
  { name: 'disc_number', label: 'Disc number', number: true, max: 2 ** 31 - 1 },
  { name: 'labels', label: 'Labels', list: true },
];
const BY_NAME = Object.fromEntries(FIELDS.map((f) => [f.name, f]));

// Form values are what the inputs hold: strings, and an array for labels.
function toForm(track) {
  const form = {};
  for (const field of FIELDS) {
    const value = track[field.name];
    if (field.list) form[field.name] = [...(value || [])];
    else form[field.name] = value === null || value === undefined ? '' : String(value);
  }
  return form;
}

// What a form value means to the API: '' clears a field (null); numbers are integers.
function apiValue(field, raw) {
  if (field.list) return raw;
  const text = raw.trim();
  if (text === '') return null;
  if (field.number) return /^\d+$/.test(text) ? Number(text) : NaN;
  return text;
}

function invalid(field, raw) {
  if (field.list) return null;
  if (!field.number) return raw.length > 500 ? 'At most 500 characters.' : null;
  const value = apiValue(field, raw);
  if (value === null) return null;
  if (Number.isNaN(value)) return 'A whole number, please.';
  if (value > field.max) return `At most ${field.max}.`;
  return null;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function shown(field, raw) {
  if (field.list) return raw.length ? raw.join(', ') : '(none)';
  return raw.trim() === '' ? '(empty)' : raw;
}

function changedFields(form, base) {
  return FIELDS.filter((f) => !same(apiValue(f, form[f.name]), apiValue(f, base.form[f.name]))).map((f) => f.name);
}

export function Editor({ track, etag, readOnly, onSaved }) {
  const [base, setBase] = useState({ etag, form: toForm(track) }); // what the edit is based on
  const [form, setForm] = useState(() => toForm(track));
  const [conflict, setConflict] = useState(null); // {fields: [{name, mine, theirs}], others: [...]}
  const [saving, setSaving] = useState(false);
  const [status, setStatus] = useState(null); // {kind: 'saved'|'error'|'info', text}
  const [writeTags, setWriteTags] = useState(false);
  const [changedElsewhere, setChangedElsewhere] = useState(false);
  const conflictHeading = useRef(null);
  const dirty = changedFields(form, base);
  const errors = Object.fromEntries(FIELDS.map((f) => [f.name, invalid(f, form[f.name])]).filter(([, e]) => e));

  // A newer version arrived (a live update, a transcode finishing): adopt it when nothing
  // is being edited; otherwise keep the edit and say so (saving will show any conflict).
  useEffect(() => {
    if (etag === base.etag || saving) return;
    if (!dirty.length && !conflict) {
      setBase({ etag, form: toForm(track) });
      setForm(toForm(track));
      setChangedElsewhere(false);
    } else setChangedElsewhere(true);
  }, [etag]);

  // Leaving with unsaved changes asks first: a reload or closing the tab (beforeunload),
  // and links inside the admin (the router follows them without a page load).
  useEffect(() => {
    if (!dirty.length) return undefined;
    const beforeUnload = (event) => {
      event.preventDefault();
      event.returnValue = '';
    };
    const onClick = (event) => {
      const link = event.target.closest?.('a[href]');
      if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey)
        return;
      const url = new URL(link.href, location.href);
      if (url.origin !== location.origin || url.pathname === location.pathname || link.target) return;
      if (!window.confirm('This track has unsaved changes. Leave without saving them?')) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    };
    addEventListener('beforeunload', beforeUnload);
    document.addEventListener('click', onClick, true);
    return () => {
      removeEventListener('beforeunload', beforeUnload);
      document.removeEventListener('click', onClick, true);
    };
  }, [dirty.length > 0]);

  useEffect(() => {
    if (conflict && conflictHeading.current) conflictHeading.current.focus();
  }, [conflict]);

  const set = (name, value) => setForm((current) => ({ ...current, [name]: value }));

  const save = async () => {
    if (saving) return;
    if (Object.keys(errors).length) {
      setStatus({ kind: 'error', text: 'Not saved: correct the fields marked in red.' });
      return;
    }
    if (!dirty.length) {
      setConflict(null);
      setStatus({ kind: 'info', text: 'Nothing to save: no field differs from the server.' });
      return;
    }
    const typed = form;
    const basedOn = base;
    const body = Object.fromEntries(dirty.map((name) => [name, apiValue(BY_NAME[name], typed[name])]));
    setSaving(true);
    setStatus({ kind: 'info', text: 'Saving…' });
    try {
      const response = await api('PATCH', `/tracks/${encodeURIComponent(track.id)}`, {
        body,
        headers: { 'If-Match': basedOn.etag },
        query: writeTags ? { write_tags: 'true' } : undefined,
        raw: true,
      });
      const saved = await response.json();
      const newEtag = response.headers.get('ETag');
      setBase({ etag: newEtag, form: toForm(saved) });
      // Keep anything typed while the request was out; take the saved values otherwise.
      setForm((current) => {
        const next = toForm(saved);
        for (const f of FIELDS) if (!same(current[f.name], typed[f.name])) next[f.name] = current[f.name];
        return next;
      });
      setConflict(null);
      setChangedElsewhere(false);
      const when = new Date().toLocaleTimeString(undefined, { timeStyle: 'short' });
      setStatus({ kind: 'saved', text: `Saved at ${when}${writeTags ? ', tags written to the file' : ''}.` });
      toast('Saved', 'success');
      onSaved(saved, newEtag);
    } catch (error) {
      if (error.status === 412) await rebase(typed, basedOn);
      else {
        const text = `Not saved: ${problemText(error)}`;
        setStatus({ kind: 'error', text });
        toast(text, 'error');
      }
    } finally {
      setSaving(false);
    }
  };

  // After a 412: fetch the server's version, base the form on it and keep every field the
  // user changed; list the ones the server changed too, with both values.
  const rebase = async (typed, basedOn) => {
    let response;
    try {
      response = await get(`/tracks/${encodeURIComponent(track.id)}`, { raw: true });
    } catch (error) {
      const text = `Not saved: the track changed meanwhile and could not be read again (${problemText(error)}).`;
      setStatus({ kind: 'error', text });
      toast(text, 'error');
      return;
    }
    const server = await response.json();
    const serverEtag = response.headers.get('ETag');
    const theirs = toForm(server);
    const fields = [];
    const others = [];
    for (const f of FIELDS) {
      const mineChanged = !same(apiValue(f, typed[f.name]), apiValue(f, basedOn.form[f.name]));
      const theirsChanged = !same(apiValue(f, theirs[f.name]), apiValue(f, basedOn.form[f.name]));
      if (mineChanged && !same(apiValue(f, typed[f.name]), apiValue(f, theirs[f.name]))) {
        if (theirsChanged) fields.push({ name: f.name, mine: typed[f.name], theirs: theirs[f.name] });
      } else if (theirsChanged) others.push({ name: f.name, theirs: theirs[f.name] });
    }
    setBase({ etag: serverEtag, form: theirs });
    setForm((current) => {
      const next = { ...theirs };
      for (const f of FIELDS) {
        // What the user typed (before or during the save) wins until they choose otherwise.
        if (!same(apiValue(f, current[f.name]), apiValue(f, basedOn.form[f.name]))) next[f.name] = current[f.name];
      }
      return next;
    });
    setConflict({ fields, others });
    setChangedElsewhere(false);
    const text = fields.length
      ? 'Not saved: someone else changed this track. Choose which value to keep for each field, then save again.'
      : 'Not saved: someone else changed other fields of this track. Yours are kept; save again to apply them.';
    setStatus({ kind: 'error', text });
    toast('Not saved: the track changed since you opened it', 'error');
    onSaved(server, serverEtag);
  };

  const revert = () => {
    setForm(base.form);
    setConflict(null);
    setStatus({ kind: 'info', text: 'Changes discarded.' });
  };

  if (readOnly) {
    return html`<section class="card stack" aria-labelledby="metadata-heading">
      <h2 id="metadata-heading">Metadata</h2>
      <p class="muted">Your role can read this track but not edit it.</p>
      <dl class="facts">
        ${FIELDS.map((f) => html`<div key=${f.name}><dt>${f.label}</dt><dd>${shown(f, form[f.name])}</dd></div>`)}
      </dl>
    </section>`;
  }

  const onSubmit = (event) => {
    event.preventDefault();
    save();
  };
  const onKeyDown = (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === 's') {
      event.preventDefault();
      save();
    }
  };
  const edited = new Set(track.edited || []);

  return html`<section class="card stack" aria-labelledby="metadata-heading">
    <h2 id="metadata-heading">Metadata</h2>
    ${conflict ? html`<${Conflict} conflict=${conflict} form=${form} set=${set} headingRef=${conflictHeading} onSave=${save} saving=${saving} />` : null}
    ${
      changedElsewhere
        ? html`<p class="notice">This track was changed elsewhere while you edit it. Your changes are kept; saving shows any field changed on both sides.</p>`
        : null
    }
    <form class="stack track-form" onSubmit=${onSubmit} onKeyDown=${onKeyDown} novalidate>
      <div class="field-grid">
        ${FIELDS.filter((f) => !f.list).map((f) => {
          const error = errors[f.name];
          const id = `field-${f.name}`;
          return html`<div key=${f.name} class=${`field${dirty.includes(f.name) ? ' changed' : ''}`}>
            <div class="field-head">
              <label for=${id}>${f.label}</label>
              ${dirty.includes(f.name) ? html`<span class="dot" aria-hidden="true" title="unsaved">•</span>` : null}
              ${edited.has(f.name) ? html`<span class="muted small-text" title="Edited here: rescans keep this value">edited</span>` : null}
            </div>
            <input
              id=${id}
              name=${f.name}
              value=${form[f.name]}
              inputmode=${f.number ? 'numeric' : undefined}
              aria-invalid=${error ? 'true' : undefined}
              aria-describedby=${error ? `${id}-error` : undefined}
              onInput=${(event) => set(f.name, event.currentTarget.value)}
            />
            ${error ? html`<span id=${`${id}-error`} class="error small-text">${error}</span>` : null}
          </div>`;
        })}
      </div>
      <${LabelsInput} value=${form.labels} onChange=${(labels) => set('labels', labels)} changed=${dirty.includes('labels')} />
      <label class="check">
        <input type="checkbox" checked=${writeTags} onChange=${(event) => setWriteTags(event.currentTarget.checked)} />
        Also write the tags into the audio file (local libraries only)
      </label>
      <div class="row">
        <button type="submit" disabled=${saving} aria-keyshortcuts="Control+S">${saving ? 'Saving…' : 'Save'}</button>
        <button type="button" class="secondary" disabled=${saving || !dirty.length} onClick=${revert}>Discard changes</button>
        <span class=${`save-status ${status ? status.kind : ''}`} role="status">${status ? status.text : dirty.length ? `${dirty.length} unsaved change${dirty.length > 1 ? 's' : ''}` : ''}</span>
      </div>
    </form>
  </section>`;
}

function Conflict({ conflict, form, set, headingRef, onSave, saving }) {
  return html`<section class="conflict stack" aria-labelledby="conflict-heading">
    <h3 id="conflict-heading" tabindex="-1" ref=${headingRef}>This track changed since you opened it</h3>
    ${
      conflict.fields.length
        ? html`<p>Someone else saved it first. For each field both of you changed, keep your value or take the one now on the server, then save again.</p>`
        : html`<p>Someone else saved other fields first; none of the fields you changed. Save again to apply yours.</p>`
    }
    ${conflict.fields.map((c) => {
      const field = BY_NAME[c.name];
      const current = form[c.name];
      return html`<fieldset key=${c.name} class="conflict-field">
        <legend>${field.label}</legend>
        <label class="check">
          <input type="radio" name=${`keep-${c.name}`} checked=${same(current, c.mine)} onChange=${() => set(c.name, c.mine)} />
          <span>Keep mine: <strong class="mine">${shown(field, c.mine)}</strong></span>
        </label>
        <label class="check">
          <input type="radio" name=${`keep-${c.name}`} checked=${same(current, c.theirs)} onChange=${() => set(c.name, c.theirs)} />
          <span>Take the server's: <strong class="theirs">${shown(field, c.theirs)}</strong></span>
        </label>
      </fieldset>`;
    })}
    ${
      conflict.others.length
        ? html`<div>
          <p class="muted">Also changed on the server (you had not changed these; the form shows the server's values):</p>
          <ul class="muted">
            ${conflict.others.map((o) => html`<li key=${o.name}>${BY_NAME[o.name].label}: ${shown(BY_NAME[o.name], o.theirs)}</li>`)}
          </ul>
        </div>`
        : null
    }
    <div class="row">
      <button type="button" onClick=${onSave} disabled=${saving}>Save again</button>
    </div>
  </section>`;
}

function LabelsInput({ value, onChange, changed }) {
  const [draft, setDraft] = useState('');
  const add = () => {
    const fresh = draft
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s && s.length <= 64 && !value.includes(s));
    if (fresh.length) onChange([...value, ...fresh]);
    setDraft('');
  };
  const onKeyDown = (event) => {
    if (event.key === 'Enter' || event.key === ',') {
      event.preventDefault();
      add();
    } else if (event.key === 'Backspace' && !draft && value.length) {
      onChange(value.slice(0, -1));
    }
  };
  return html`<fieldset class=${`labels-input stack${changed ? ' changed' : ''}`}>
    <legend>Labels${changed ? html`<span class="dot" aria-hidden="true" title="unsaved"> •</span>` : null}</legend>
    ${
      value.length
        ? html`<ul class="chips" aria-label="Labels of this track">
          ${value.map(
            (label) => html`<li key=${label} class="chip">
              ${label}
              <button type="button" aria-label=${`Remove label ${label}`} onClick=${() => onChange(value.filter((l) => l !== label))}>×</button>
            </li>`,
          )}
        </ul>`
        : html`<p class="muted small-text">No labels.</p>`
    }
    <div class="row">
      <label class="sr-only" for="field-labels-new">Add a label</label>
      <input
        id="field-labels-new"
        value=${draft}
        placeholder="Add a label, then Enter"
        aria-describedby="labels-help"
        onInput=${(event) => setDraft(event.currentTarget.value)}
        onKeyDown=${onKeyDown}
        onBlur=${add}
      />
      <button type="button" class="secondary small" onClick=${add} disabled=${!draft.trim()}>Add</button>
    </div>
    <span id="labels-help" class="muted small-text">Labels are yours, not file tags; the library filters on them.</span>
  </fieldset>`;
}
