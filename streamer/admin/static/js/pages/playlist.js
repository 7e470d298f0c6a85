// Placeholder until this page is built (issue 6).
import { html } from '../html.js';
import { useTitle } from '../ui.js';

export default function Page() {
  useTitle('playlist');
  return html`<h1>playlist</h1><p>This page is being built.</p>`;
}
