// Placeholder until this page is built (issue 6).
import { html } from '../html.js';
import { useTitle } from '../ui.js';

export default function Page() {
  useTitle('library');
  return html`<h1>library</h1><p>This page is being built.</p>`;
}
