// JSX without a build step: html`<div class=${cls}>...</div>` (htm bound to preact's h).

import htm from 'htm';
import { h } from 'preact';

export const html = htm.bind(h);
