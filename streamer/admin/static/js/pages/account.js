// The signed-in user's own account: password, two-factor authentication, sessions.
import { useState } from 'preact/hooks';
import { post } from '../api.js';
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

export default function Account({ user }) {
  useTitle('Account');
  return html`<h1>Account</h1>
    <p>Signed in as <strong>${user.name}</strong> (${user.role}).</p>
    <div class="columns">
      <div class="card"><${PasswordForm} /></div>
      <div class="card"><${TwoFactor} user=${user} /></div>
      <div class="card"><${Sessions} /></div>
    </div>`;
}
