// Placeholder until this page is built (issue 6).
import { html } from '../html.js';
import { useTitle } from '../ui.js';

export default function Page() {
  useTitle('playlists');
  return html`<h1>playlists</h1><p>This page is being built.</p>`;
}
