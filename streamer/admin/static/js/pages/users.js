// Users, their library access and API keys, and the server's two-factor policy (admins).
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, get, patch, post, put } from '../api.js';
import { useLoad } from '../hooks.js';
import { html } from '../html.js';
import { Dialog, ErrorMessage, formatDate, Loading, Pager, problemText, toast, useTitle } from '../ui.js';

const ROLES = ['admin', 'editor', 'viewer'];
const ROLE_HELP = {
  admin: 'Everything: every library, users, API keys and settings.',
  editor: 'Changes the catalogue in the libraries granted below.',
  viewer: 'Reads the libraries granted below, nothing more.',
};
const PAGE = 50;
const MIN_PASSWORD = 10; // the server's rule (streamer.auth.users.MIN_PASSWORD)

// The access a role may be granted: admins need none (they manage every library);
// viewers are capped at read by the server, so offering more would mislead.
const grantChoices = (role) => (role === 'viewer' ? ['none', 'read'] : ['none', 'read', 'write', 'manage']);

// Field messages from a problem's `errors` ([{loc: [..., field], msg}]).
function fieldErrors(error) {
  const out = {};
  const errors = error?.problem?.errors;
  if (!Array.isArray(errors)) return out;
  for (const item of errors) {
    const loc = item.loc || [];
    const field = loc[loc.length - 1];
    if (typeof field === 'string') out[field] = field === 'name' && /pattern/.test(item.msg) ? NAME_RULE : item.msg;
  }
  return out;
}

// A new user's problems that name no field but are about one: a taken name (409), a
// password the server's rules refuse (422 with only a detail).
function userFieldErrors(error, creating) {
  const fields = fieldErrors(error);
  if (!error || Object.keys(fields).length) return fields;
  const detail = error.problem?.detail || '';
  if (creating && error.status === 409) fields.name = detail;
  else if (error.status === 422 && /password/i.test(detail)) fields.password = detail;
  return fields;
}

// After a failed submit, the first field marked invalid takes the focus.
function useFocusInvalid(ref, error) {
  useEffect(() => {
    if (!error || !ref.current) return;
    const invalid = ref.current.querySelector('[aria-invalid="true"]');
    if (invalid) invalid.focus();
  }, [error]);
}

const NAME_RULE = 'Use letters, digits and . _ @ - (up to 100), starting with a letter or a digit.';

function FieldError({ id, message }) {
  if (!message) return null;
  return html`<span class="field-error" id=${id}>${message}</span>`;
}

// ---------------------------------------------------------------- shared pieces

function GrantsEditor({ libraries, value, onChange, role, idPrefix, disabled = false }) {
  if (!libraries.length) return html`<p class="muted">There are no libraries yet.</p>`;
  const choices = grantChoices(role);
  return html`<fieldset class="grants" disabled=${disabled}>
    <legend>Library access</legend>
    ${role === 'admin' && html`<p class="muted">Admins manage every library whatever is set here.</p>`}
    ${role === 'viewer' && html`<p class="muted">Viewers can only read.</p>`}
    ${libraries.map((lib) => {
      const id = `${idPrefix}-grant-${lib.id}`;
      const current = value[lib.id] || 'none';
      return html`<div class="grant-row" key=${lib.id}>
        <label for=${id}>${lib.name}</label>
        <select id=${id} value=${choices.includes(current) ? current : 'read'} onChange=${(e) => onChange({ ...value, [lib.id]: e.currentTarget.value })}>
          ${choices.map((choice) => html`<option key=${choice} value=${choice}>${choice}</option>`)}
        </select>
      </div>`;
    })}
  </fieldset>`;
}

// Only the libraries with access (the API's shape); a role's cap applied.
function grantsBody(value, role) {
  const choices = grantChoices(role);
  const out = {};
  for (const [library, access] of Object.entries(value)) {
    if (access === 'none') continue;
    out[library] = choices.includes(access) ? access : 'read';
  }
  return out;
}

function GrantChips({ grants, libraries, all }) {
  if (all) return html`<span class="muted">${all}</span>`;
  const entries = Object.entries(grants || {});
  if (!entries.length) return html`<span class="muted">None</span>`;
  const name = (id) => (libraries.find((lib) => lib.id === id) || { name: id }).name;
  return html`<ul class="chips">
    ${entries.map(([id, access]) => html`<li key=${id} class="chip">${name(id)}: ${access}</li>`)}
  </ul>`;
}

function ConfirmDialog({ open, title, children, confirmLabel, onConfirm, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (open) setError(null);
  }, [open]);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Dialog} open=${open} title=${title} onClose=${onClose}>
    <div class="stack">
      ${children}
      <${ErrorMessage} error=${error} />
      <div class="row dialog-actions">
        <button type="button" class="danger" disabled=${busy} onClick=${confirm}>${confirmLabel}</button>
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    </div>
  <//>`;
}

// ---------------------------------------------------------------- users

function UserDialog({ open, user, libraries, onClose, onSaved }) {
  const editing = Boolean(user);
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  useFocusInvalid(formRef, error);
  useEffect(() => {
    if (!open) return;
    setError(null);
    setForm({
      name: user ? user.name : '',
      password: '',
      role: user ? user.role : 'viewer',
      grants: user ? { ...user.libraries } : {},
      disabled: user ? user.disabled : false,
      resetTotp: false,
    });
  }, [open, user]);
  if (!form)
    return html`<${Dialog} open=${open} title=${editing ? `Edit ${user.name}` : 'New user'} onClose=${onClose} />`;
  const set = (changes) => setForm({ ...form, ...changes });
  const fields = userFieldErrors(error, !editing);
  const idPrefix = editing ? `edit-${user.id}` : 'new-user';

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (!editing) {
        const made = await post('/users', {
          name: form.name.trim(),
          password: form.password,
          role: form.role,
          libraries: grantsBody(form.grants, form.role),
        });
        toast(`User ${made.name} created.`, 'success');
      } else {
        const changes = {};
        if (form.role !== user.role) changes.role = form.role;
        if (form.disabled !== user.disabled) changes.disabled = form.disabled;
        if (form.password) changes.password = form.password;
        if (form.resetTotp) changes.reset_totp = true;
        if (Object.keys(changes).length) await patch(`/users/${user.id}`, changes);
        const grants = grantsBody(form.grants, form.role);
        const before = grantsBody(user.libraries, user.role);
        if (JSON.stringify(Object.entries(grants).sort()) !== JSON.stringify(Object.entries(before).sort())) {
          await put(`/users/${user.id}/libraries`, grants);
        }
        toast(`User ${user.name} saved.`, 'success');
      }
      onSaved();
      onClose();
    } catch (err) {
      setError(err);
      toast(`Not saved: ${problemText(err)}`, 'error');
    } finally {
      setBusy(false);
    }
  };

  return html`<${Dialog} open=${open} title=${editing ? `Edit ${user.name}` : 'New user'} onClose=${onClose} wide>
    <form class="stack" onSubmit=${submit} novalidate ref=${formRef}>
      ${
        !editing &&
        html`<div class="field">
        <label for="new-user-name">User name</label>
        <input id="new-user-name" name="name" value=${form.name} required autocomplete="off" maxlength="100"
          aria-invalid=${fields.name ? 'true' : undefined} aria-describedby="new-user-name-help new-user-name-error"
          onInput=${(e) => set({ name: e.currentTarget.value })} />
        <span class="hint" id="new-user-name-help">${NAME_RULE}</span>
        <${FieldError} id="new-user-name-error" message=${fields.name} />
      </div>`
      }
      <div class="field">
        <label for=${`${idPrefix}-password`}>${editing ? 'New password (leave empty to keep the current one)' : 'Password'}</label>
        <input id=${`${idPrefix}-password`} name="password" type="password" value=${form.password} required=${!editing} autocomplete="new-password"
          aria-invalid=${fields.password ? 'true' : undefined} aria-describedby=${`${idPrefix}-password-help ${idPrefix}-password-error`}
          onInput=${(e) => set({ password: e.currentTarget.value })} />
        <span class="hint" id=${`${idPrefix}-password-help`}>At least ${MIN_PASSWORD} characters.${editing ? ' A new password signs the user out everywhere.' : ''}</span>
        <${FieldError} id=${`${idPrefix}-password-error`} message=${fields.password} />
      </div>
      <div class="field">
        <label for=${`${idPrefix}-role`}>Role</label>
        <select id=${`${idPrefix}-role`} name="role" value=${form.role} aria-describedby=${`${idPrefix}-role-help`} onChange=${(e) => set({ role: e.currentTarget.value })}>
          ${ROLES.map((role) => html`<option key=${role} value=${role}>${role}</option>`)}
        </select>
        <span class="hint" id=${`${idPrefix}-role-help`}>${ROLE_HELP[form.role]}</span>
      </div>
      <${GrantsEditor} libraries=${libraries} value=${form.grants} role=${form.role} idPrefix=${idPrefix} onChange=${(grants) => set({ grants })} />
      ${
        editing &&
        html`<label class="check"><input type="checkbox" checked=${form.disabled} onChange=${(e) => set({ disabled: e.currentTarget.checked })} /> Disabled (cannot sign in; signed out everywhere)</label>`
      }
      ${
        editing &&
        user.totp_enabled &&
        html`<label class="check"><input type="checkbox" checked=${form.resetTotp} onChange=${(e) => set({ resetTotp: e.currentTarget.checked })} /> Reset two-factor authentication (the user enrols again)</label>`
      }
      <${ErrorMessage} error=${Object.keys(fields).length ? null : error} />
      <div class="row dialog-actions">
        <button type="submit" disabled=${busy}>${editing ? 'Save' : 'Create user'}</button>
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    </form>
  <//>`;
}

function UsersSection({ me, libraries }) {
  const [offset, setOffset] = useState(0);
  const users = useLoad(() => get('/users', { query: { limit: PAGE, offset } }), [offset]);
  const [editing, setEditing] = useState(null); // null: closed; {}: new; a user: edit
  const [deleting, setDeleting] = useState(null);
  const [toggling, setToggling] = useState(null);

  const toggle = async (user) => {
    setToggling(user.id);
    try {
      await patch(`/users/${user.id}`, { disabled: !user.disabled });
      toast(`${user.name} is ${user.disabled ? 'enabled' : 'disabled'}.`, 'success');
      await users.reload();
    } catch (err) {
      toast(`Could not change ${user.name}: ${problemText(err)}`, 'error');
    } finally {
      setToggling(null);
    }
  };
  const remove = async () => {
    await del(`/users/${deleting.id}`);
    toast(`User ${deleting.name} deleted.`, 'success');
    await users.reload();
  };

  const page = users.data;
  return html`<section class="card stack" aria-labelledby="users-heading">
    <div class="row">
      <h2 id="users-heading">Users</h2>
      <span class="spacer"></span>
      <button type="button" onClick=${() => setEditing({})}>New user</button>
    </div>
    <${ErrorMessage} error=${users.error} />
    ${
      !page
        ? users.loading && html`<${Loading} label="Loading users…" />`
        : html`<div class="table-wrap">
          <table class="users-table">
            <thead>
              <tr>
                <th scope="col">Name</th><th scope="col">Role</th><th scope="col">Two-factor</th><th scope="col">Status</th>
                <th scope="col">Last sign-in</th><th scope="col">Libraries</th><th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              ${page.items.map((user) => {
                const self = user.id === me.user_id;
                return html`<tr key=${user.id} data-user=${user.name}>
                  <th scope="row">${user.name}${self && html` <span class="muted">(you)</span>`}</th>
                  <td>${user.role}</td>
                  <td><span class=${`badge ${user.totp_enabled ? 'badge-ok' : 'badge-off'}`}>${user.totp_enabled ? 'On' : 'Off'}</span></td>
                  <td><span class=${`badge ${user.disabled ? 'badge-failed' : 'badge-ok'}`}>${user.disabled ? 'Disabled' : 'Active'}</span></td>
                  <td>${user.last_login_at ? formatDate(user.last_login_at) : html`<span class="muted">Never</span>`}</td>
                  <td><${GrantChips} grants=${user.libraries} libraries=${libraries} all=${user.role === 'admin' ? 'All (admin)' : null} /></td>
                  <td class="actions">
                    <button type="button" class="secondary small" aria-label=${`Edit ${user.name}`} onClick=${() => setEditing(user)}>Edit</button>
                    ${
                      !self &&
                      html`<button type="button" class="secondary small" disabled=${toggling === user.id} aria-label=${`${user.disabled ? 'Enable' : 'Disable'} ${user.name}`} onClick=${() => toggle(user)}>${user.disabled ? 'Enable' : 'Disable'}</button>
                      <button type="button" class="danger small" aria-label=${`Delete ${user.name}`} onClick=${() => setDeleting(user)}>Delete</button>`
                    }
                  </td>
                </tr>`;
              })}
            </tbody>
          </table>
        </div>
        <${Pager} label="User pages" next=${offset + PAGE < page.total} previous=${offset > 0}
          onNext=${() => setOffset(offset + PAGE)} onPrevious=${() => setOffset(Math.max(0, offset - PAGE))} />`
    }
    <${UserDialog} open=${editing !== null} user=${editing?.id ? editing : null} libraries=${libraries}
      onClose=${() => setEditing(null)} onSaved=${() => users.reload()} />
    <${ConfirmDialog} open=${deleting !== null} title="Delete user" confirmLabel="Delete user" onConfirm=${remove} onClose=${() => setDeleting(null)}>
      ${deleting && html`<p>Delete <strong>${deleting.name}</strong>? Their sessions and library access go with them. This cannot be undone; disabling keeps the account instead.</p>`}
    <//>
  </section>`;
}

// ---------------------------------------------------------------- two-factor policy

function PolicySection({ me }) {
  const policy = useLoad(() => get('/security'));
  const [roles, setRoles] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (policy.data) setRoles(new Set(policy.data.require_2fa_roles));
  }, [policy.data]);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const answer = await put('/security', { require_2fa_roles: ROLES.filter((role) => roles.has(role)) });
      setRoles(new Set(answer.require_2fa_roles));
      setSaved(true);
      toast('Two-factor policy saved.', 'success');
    } catch (err) {
      setError(err);
      toast(`Not saved: ${problemText(err)}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  const toggle = (role, on) => {
    const next = new Set(roles);
    if (on) next.add(role);
    else next.delete(role);
    setRoles(next);
    setSaved(false);
  };
  return html`<section class="card stack" aria-labelledby="policy-heading">
    <h2 id="policy-heading">Two-factor policy</h2>
    <${ErrorMessage} error=${policy.error} />
    ${
      !roles
        ? policy.loading && html`<${Loading} />`
        : html`<form class="stack" onSubmit=${submit}>
          <fieldset class="policy-roles">
            <legend>Require two-factor authentication for</legend>
            ${ROLES.map(
              (role) => html`<label class="check" key=${role}>
                <input type="checkbox" name=${role} checked=${roles.has(role)} onChange=${(e) => toggle(role, e.currentTarget.checked)} /> ${role}s
              </label>`,
            )}
          </fieldset>
          <p class="hint">Users of these roles who have not set it up can only do that after signing in.${
            roles.has(me.role) && !me.totp_enabled ? ' That includes you: set it up on your account page.' : ''
          }</p>
          <${ErrorMessage} error=${error} />
          <div class="row">
            <button type="submit" disabled=${busy}>Save policy</button>
            ${saved && html`<span class="success">Saved.</span>`}
          </div>
        </form>`
    }
  </section>`;
}

// ---------------------------------------------------------------- API keys

function keyState(key) {
  if (key.revoked_at) return { label: 'Revoked', kind: 'failed' };
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return { label: 'Expired', kind: 'off' };
  return { label: 'Active', kind: 'ok' };
}

function tomorrow() {
  const date = new Date(Date.now() + 86400000);
  return date.toISOString().slice(0, 10);
}

function NewKey({ secret, onDone }) {
  const input = useRef(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (input.current) input.current.select();
  }, []);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret.key);
    } catch {
      // No clipboard permission: select the text and let the browser copy it.
      input.current.select();
      if (!document.execCommand?.('copy')) {
        toast('Copying was refused: the key is selected, press Ctrl+C (⌘C) to copy it.', 'error');
        return;
      }
    }
    setCopied(true);
    toast('The key is on the clipboard.', 'success');
  };
  return html`<div class="stack">
    <p class="notice" role="alert"><strong>Copy the key now.</strong> It is shown only this once and cannot be shown again. If it is lost, revoke it and create another.</p>
    <div class="stack secret-field">
      <label for="new-key-secret">API key “${secret.name}” (${secret.role})</label>
      <div class="secret-row">
        <input id="new-key-secret" ref=${input} class="secret-key" readonly value=${secret.key} spellcheck="false" autocomplete="off" />
        <button type="button" onClick=${copy}>${copied ? 'Copied' : 'Copy'}</button>
      </div>
    </div>
    <p class="hint">Send it as <code>Authorization: Bearer …</code> with every request.</p>
    <div class="row dialog-actions"><button type="button" class="secondary" onClick=${onDone}>Done</button></div>
  </div>`;
}

function KeyDialog({ open, libraries, onClose, onCreated }) {
  const [form, setForm] = useState(null);
  const [secret, setSecret] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  useFocusInvalid(formRef, error);
  useEffect(() => {
    if (!open) {
      setSecret(null); // never kept once the dialog is closed
      return;
    }
    setError(null);
    setForm({ name: '', role: 'viewer', scoped: false, grants: {}, expires: '' });
  }, [open]);
  const fields = fieldErrors(error);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { name: form.name.trim(), role: form.role };
      if (form.scoped) body.libraries = grantsBody(form.grants, form.role);
      if (form.expires) body.expires_at = new Date(`${form.expires}T23:59:59`).toISOString();
      if (form.scoped && !Object.keys(body.libraries).length) {
        throw Object.assign(
          new Error('Choose at least one library, or let the key reach every library its role allows.'),
          { problem: {} },
        );
      }
      const made = await post('/apikeys', body);
      setSecret(made);
      onCreated();
    } catch (err) {
      setError(err);
      toast(`Not created: ${problemText(err)}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  const set = (changes) => setForm({ ...form, ...changes });
  return html`<${Dialog} open=${open} title=${secret ? 'API key created' : 'New API key'} onClose=${onClose} wide>
    ${
      secret
        ? html`<${NewKey} secret=${secret} onDone=${onClose} />`
        : form &&
          html`<form class="stack" onSubmit=${submit} novalidate ref=${formRef}>
          <div class="field">
            <label for="new-key-name">Name</label>
            <input id="new-key-name" name="name" value=${form.name} required maxlength="100" autocomplete="off"
              aria-invalid=${fields.name ? 'true' : undefined} aria-describedby="new-key-name-help new-key-name-error"
              onInput=${(e) => set({ name: e.currentTarget.value })} />
            <span class="hint" id="new-key-name-help">What uses it, e.g. “CDN purge script”.</span>
            <${FieldError} id="new-key-name-error" message=${fields.name} />
          </div>
          <div class="field">
            <label for="new-key-role">Role</label>
            <select id="new-key-role" name="role" value=${form.role} aria-describedby="new-key-role-help" onChange=${(e) => set({ role: e.currentTarget.value })}>
              ${ROLES.map((role) => html`<option key=${role} value=${role}>${role}</option>`)}
            </select>
            <span class="hint" id="new-key-role-help">${ROLE_HELP[form.role]}</span>
          </div>
          <fieldset>
            <legend>Libraries</legend>
            <label class="check"><input type="radio" name="scope" checked=${!form.scoped} onChange=${() => set({ scoped: false })} /> Every library the role allows</label>
            <label class="check"><input type="radio" name="scope" checked=${form.scoped} onChange=${() => set({ scoped: true })} /> Only the libraries chosen</label>
          </fieldset>
          ${
            form.scoped &&
            html`<${GrantsEditor} libraries=${libraries} value=${form.grants} role=${form.role} idPrefix="new-key" onChange=${(grants) => set({ grants })} />`
          }
          <div class="field">
            <label for="new-key-expires">Expires on (optional)</label>
            <input id="new-key-expires" name="expires" type="date" min=${tomorrow()} value=${form.expires} aria-describedby="new-key-expiry-help new-key-expiry-error"
              onInput=${(e) => set({ expires: e.currentTarget.value })} />
            <span class="hint" id="new-key-expiry-help">Leave empty for a key that does not expire. It stops working at the end of that day.</span>
            <${FieldError} id="new-key-expiry-error" message=${fields.expires_at} />
          </div>
          <${ErrorMessage} error=${Object.keys(fields).length ? null : error} />
          <div class="row dialog-actions">
            <button type="submit" disabled=${busy}>Create key</button>
            <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
          </div>
        </form>`
    }
  <//>`;
}

function KeysSection({ libraries }) {
  const keys = useLoad(() => get('/apikeys'));
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState(null);
  const [showAll, setShowAll] = useState(true);
  const revoke = async () => {
    await del(`/apikeys/${revoking.id}`);
    toast(`Key ${revoking.name} revoked.`, 'success');
    await keys.reload();
  };
  const items = keys.data ? keys.data.filter((key) => showAll || keyState(key).label === 'Active') : [];
  return html`<section class="card stack" aria-labelledby="keys-heading">
    <div class="row">
      <h2 id="keys-heading">API keys</h2>
      <span class="spacer"></span>
      <label class="check"><input type="checkbox" checked=${showAll} onChange=${(e) => setShowAll(e.currentTarget.checked)} /> Show revoked and expired</label>
      <button type="button" onClick=${() => setCreating(true)}>New API key</button>
    </div>
    <${ErrorMessage} error=${keys.error} />
    ${
      !keys.data
        ? keys.loading && html`<${Loading} label="Loading API keys…" />`
        : !items.length
          ? html`<p class="muted">No API keys${showAll ? '' : ' in use'}. Programs (scripts, CDN purges) sign in with one.</p>`
          : html`<div class="table-wrap">
            <table class="keys-table">
              <thead>
                <tr>
                  <th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Role</th><th scope="col">Libraries</th>
                  <th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th>
                </tr>
              </thead>
              <tbody>
                ${items.map((key) => {
                  const state = keyState(key);
                  return html`<tr key=${key.id} data-key=${key.id} class=${state.label === 'Active' ? '' : 'inactive'}>
                    <th scope="row">${key.name}</th>
                    <td><code>${key.prefix}…</code></td>
                    <td>${key.role}</td>
                    <td><${GrantChips} grants=${key.libraries} libraries=${libraries} all=${key.libraries ? null : 'All the role allows'} /></td>
                    <td>${key.expires_at ? formatDate(key.expires_at) : html`<span class="muted">Never</span>`}</td>
                    <td>${key.last_used_at ? formatDate(key.last_used_at) : html`<span class="muted">Never</span>`}</td>
                    <td><span class=${`badge badge-${state.kind}`} title=${key.revoked_at ? `Revoked ${formatDate(key.revoked_at)}` : undefined}>${state.label}</span></td>
                    <td class="actions">
                      ${
                        !key.revoked_at &&
                        html`<button type="button" class="danger small" aria-label=${`Revoke ${key.name}`} onClick=${() => setRevoking(key)}>Revoke</button>`
                      }
                    </td>
                  </tr>`;
                })}
              </tbody>
            </table>
          </div>`
    }
    <${KeyDialog} open=${creating} libraries=${libraries} onClose=${() => setCreating(false)} onCreated=${() => keys.reload()} />
    <${ConfirmDialog} open=${revoking !== null} title="Revoke API key" confirmLabel="Revoke key" onConfirm=${revoke} onClose=${() => setRevoking(null)}>
      ${revoking && html`<p>Revoke <strong>${revoking.name}</strong> (<code>${revoking.prefix}…</code>)? Everything using it is refused at once. This cannot be undone.</p>`}
    <//>
  </section>`;
}

// ---------------------------------------------------------------- the page

export default function Users({ user }) {
  useTitle('Users and API keys');
  const libraries = useLoad(() => get('/libraries'));
  return html`<div class="users-page stack">
    <h1>Users and API keys</h1>
    <${ErrorMessage} error=${libraries.error} />
    ${
      !libraries.data
        ? libraries.loading && html`<${Loading} />`
        : html`
          <${UsersSection} me=${user} libraries=${libraries.data} />
          <${PolicySection} me=${user} />
          <${KeysSection} libraries=${libraries.data} />
        `
    }
  </div>`;
}
