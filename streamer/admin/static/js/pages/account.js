// The signed-in user's own account: password, two-factor authentication, app passwords
// for Subsonic players, sessions.
import { useEffect, useState } from 'preact/hooks';
import { del, get, post } from '../api.js';
import { closeEvents } from '../events.js';
import { html } from '../html.js';
import { refreshSession, setSession } from '../session.js';
import { ErrorMessage, toast, useTitle } from '../ui.js';

function PasswordForm() {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    if (data.get('new_password') !== data.get('repeat')) {
      setError(new Error('The new passwords differ.'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      setSession(
        await post('/auth/password', { current_password: data.get('current'), new_password: data.get('new_password') }),
      );
      form.reset();
      toast('Password changed; other sessions were signed out.', 'success');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="stack" onSubmit=${submit}>
    <h2>Password</h2>
    <label>Current password <input name="current" type="password" autocomplete="current-password" required /></label>
    <label>New password <input name="new_password" type="password" autocomplete="new-password" required minlength="8" /></label>
    <label>New password again <input name="repeat" type="password" autocomplete="new-password" required minlength="8" /></label>
    <${ErrorMessage} error=${error} />
    <button type="submit" disabled=${busy}>Change password</button>
  </form>`;
}

function RecoveryCodes({ codes }) {
  return html`<div class="notice" role="status">
    <p><strong>Recovery codes.</strong> Each works once, in place of a code from the app. They are shown only now: keep them somewhere safe.</p>
    <ul class="codes">${codes.map((code) => html`<li key=${code}><code>${code}</code></li>`)}</ul>
  </div>`;
}

function TwoFactor({ user }) {
  const [enrolment, setEnrolment] = useState(null);
  const [codes, setCodes] = useState(null);
  const [error, setError] = useState(null);
  const run = async (action) => {
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err);
    }
  };
  const start = () => run(async () => setEnrolment(await post('/auth/totp')));
  const confirm = (event) => {
    event.preventDefault();
    const code = new FormData(event.currentTarget).get('code').trim();
    return run(async () => {
      const answer = await post('/auth/totp/confirm', { code });
      setEnrolment(null);
      setCodes(answer.recovery_codes);
      await refreshSession();
      toast('Two-factor authentication is on.', 'success');
    });
  };
  const disable = (event) => {
    event.preventDefault();
    const password = new FormData(event.currentTarget).get('password');
    return run(async () => {
      await post('/auth/totp/disable', { password });
      setCodes(null);
      await refreshSession();
      toast('Two-factor authentication is off.', 'success');
    });
  };
  const newCodes = (event) => {
    event.preventDefault();
    const password = new FormData(event.currentTarget).get('password');
    return run(async () => setCodes((await post('/auth/recovery-codes', { password })).recovery_codes));
  };
  return html`<section class="stack" aria-labelledby="twofactor">
    <h2 id="twofactor">Two-factor authentication</h2>
    ${user.must_enrol_totp && html`<p class="notice" role="alert">Your role requires two-factor authentication. Set it up to continue.</p>`}
    ${codes && html`<${RecoveryCodes} codes=${codes} />`}
    ${
      user.totp_enabled
        ? html`<p>On. Sign-ins ask for a code from your authenticator app.</p>
          <form class="inline-form" onSubmit=${newCodes}>
            <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
            <button type="submit" class="secondary">New recovery codes</button>
          </form>
          <form class="inline-form" onSubmit=${disable}>
            <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
            <button type="submit" class="danger">Turn off</button>
          </form>`
        : enrolment
          ? html`<form class="stack" onSubmit=${confirm}>
            <p>Add this account to your authenticator app with the link or the secret, then enter the code it shows.</p>
            <p><a href=${enrolment.otpauth_uri}>Open in authenticator app</a></p>
            <p>Secret: <code class="secret">${enrolment.secret}</code></p>
            <label>Code <input name="code" inputmode="numeric" autocomplete="one-time-code" required pattern="[0-9 ]{6,7}" maxlength="7" /></label>
            <button type="submit">Turn on</button>
          </form>`
          : html`<p>Off.</p><button type="button" onClick=${start}>Set up two-factor authentication</button>`
    }
    <${ErrorMessage} error=${error} />
  </section>`;
}

function Sessions() {
  const [error, setError] = useState(null);
  const everywhere = async () => {
    try {
      await post('/auth/logout-everywhere');
      closeEvents();
      setSession(null);
    } catch (err) {
      setError(err);
    }
  };
  return html`<section class="stack" aria-labelledby="sessions">
    <h2 id="sessions">Sessions</h2>
    <p>Sign out of every browser where this account is signed in, this one included.</p>
    <div><button type="button" class="danger" onClick=${everywhere}>Log out everywhere</button></div>
    <${ErrorMessage} error=${error} />
  </section>`;
}

const when = (value) => (value ? new Date(value).toLocaleString() : 'never');

// Passwords for Subsonic players (/rest): made by the server, shown once, revoked one by one.
function AppPasswords({ user }) {
  const [items, setItems] = useState(null);
  const [made, setMade] = useState(null);
  const [error, setError] = useState(null);
  const load = async () => {
    try {
      setItems(await get('/users/me/app-passwords'));
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    load();
  }, []);
  const create = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    setError(null);
    try {
      setMade(await post('/users/me/app-passwords', { name: new FormData(form).get('name') }));
      form.reset();
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (item) => {
    setError(null);
    try {
      await del(`/users/me/app-passwords/${item.id}`);
      if (made?.id === item.id) setMade(null);
      toast(`"${item.name}" can no longer sign in.`, 'success');
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const live = (items || []).filter((item) => !item.revoked_at);
  return html`<section class="stack" aria-labelledby="app-passwords">
    <h2 id="app-passwords">App passwords</h2>
    <p>
      For music players that speak Subsonic (DSub, Symfonium, Feishin, …):
      server <code>${location.origin}</code>, user <code>${user.name}</code>, and a
      password made here, one per player. Your own password never works there.
    </p>
    ${
      made &&
      html`<div class="notice" role="status">
        <p><strong>${made.name}</strong>: enter this password in the player now; it is not shown again.</p>
        <p><code class="secret" data-testid="app-password">${made.password}</code></p>
      </div>`
    }
    <form class="row" onSubmit=${create}>
      <label>Player <input name="name" required maxlength="100" placeholder="DSub on my phone" /></label>
      <button type="submit">Make a password</button>
    </form>
    ${
      items === null
        ? html`<p class="muted">Loading…</p>`
        : live.length === 0
          ? html`<p class="muted">No app passwords yet.</p>`
          : html`<ul class="app-passwords" aria-label="Your app passwords">
              ${live.map(
                (item) => html`<li key=${item.id} class="row">
                  <span class="stack-tight">
                    <strong>${item.name}</strong>
                    <span class="muted small">made ${when(item.created_at)} · last used ${when(item.last_used_at)}</span>
                  </span>
                  <span class="spacer"></span>
                  <button type="button" class="danger" onClick=${() => revoke(item)} aria-label=${`Revoke ${item.name}`}>Revoke</button>
                </li>`,
              )}
            </ul>`
    }
    <${ErrorMessage} error=${error} />
  </section>`;
}

export default function Account({ user }) {
  useTitle('Account');
  return html`<h1>Account</h1>
    <p>Signed in as <strong>${user.name}</strong> (${user.role}).</p>
    <div class="columns">
      <div class="card"><${PasswordForm} /></div>
      <div class="card"><${TwoFactor} user=${user} /></div>
      <div class="card"><${AppPasswords} user=${user} /></div>
      <div class="card"><${Sessions} /></div>
    </div>`;
}
