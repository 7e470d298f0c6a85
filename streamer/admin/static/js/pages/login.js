// Sign in: name and password, then the TOTP code (or a recovery code) when the user has 2FA.
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { html } from '../html.js';
import { refreshSession, setSession } from '../session.js';
import { ErrorMessage, useTitle } from '../ui.js';

function PasswordStep() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      setSession(await post('/auth/login', { name: form.get('name'), password: form.get('password') }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="stack" onSubmit=${submit}>
    <label>User name <input name="name" autocomplete="username" required autofocus /></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
    <${ErrorMessage} error=${error} />
    <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
  </form>`;
}

function SecondFactorStep({ user }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [recovery, setRecovery] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const value = new FormData(event.currentTarget).get('code').trim();
    setBusy(true);
    setError(null);
    try {
      setSession(await post('/auth/second-factor', recovery ? { recovery_code: value } : { code: value }));
    } catch (err) {
      setError(err);
      if (err.status === 401) await refreshSession();
    } finally {
      setBusy(false);
    }
  };
  const label = recovery ? 'Recovery code' : 'Code from your authenticator app';
  return html`<form class="stack" onSubmit=${submit}>
    <p>Signed in as <strong>${user.name}</strong>. Two-factor authentication is on for this account.</p>
    <label>${label}
      <input key=${recovery} name="code" required autofocus autocomplete="one-time-code"
        inputmode=${recovery ? 'text' : 'numeric'} pattern=${recovery ? undefined : '[0-9 ]{6,7}'} maxlength=${recovery ? 32 : 7} />
    </label>
    <${ErrorMessage} error=${error} />
    <button type="submit" disabled=${busy}>${busy ? 'Checking…' : 'Verify'}</button>
    <button type="button" class="link" onClick=${() => setRecovery(!recovery)}>
      ${recovery ? 'Use a code from the app instead' : 'Use a recovery code instead'}
    </button>
  </form>`;
}

export default function Login({ session }) {
  useTitle('Sign in');
  return html`<main id="main" class="login">
    <h1>Streamer admin</h1>
    <section class="card" aria-label="Sign in">
      ${
        session.state === 'second-factor'
          ? html`<${SecondFactorStep} user=${session.user} />`
          : html`<${PasswordStep} />`
      }
    </section>
  </main>`;
}
