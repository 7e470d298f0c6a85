// The shared plots with fixed data, for the visual regression test (tests/web/test_visual.py).
import { render } from 'preact';
import { html } from '/admin/js/html.js';
import { BarPlot, LinePlot } from '/admin/js/plots.js';

const minute = 60000;
const start = Date.UTC(2026, 11, 1, 11, 55);
// Five minutes at one reading each 5 s: a wave with a gap (a restarted server) in it.
const rate = Array.from({ length: 61 }, (_, i) => ({
  t: start + i * 5000,
  v: i >= 30 && i < 34 ? null : 40 + 25 * Math.sin(i / 6) + (i % 7),
}));
const statuses = [
  {
    label: '2xx',
    parts: [{ name: '2xx', value: 18250, kind: '2xx' }],
  },
  { label: '3xx', parts: [{ name: '3xx', value: 2310, kind: '3xx' }] },
  { label: '4xx', parts: [{ name: '4xx', value: 412, kind: '4xx' }] },
  { label: '5xx', parts: [{ name: '5xx', value: 9, kind: '5xx' }] },
];
const storage = [
  {
    label: 'Music',
    parts: [
      { name: 'Originals', value: 8.2e9, kind: 'originals' },
      { name: 'Renditions and covers', value: 3.1e9, kind: 'derived' },
    ],
  },
  {
    label: 'A library with a rather long name',
    parts: [
      { name: 'Originals', value: 1.4e9, kind: 'originals' },
      { name: 'Renditions and covers', value: 0.6e9, kind: 'derived' },
    ],
  },
];
const legend = [
  { name: 'Originals', kind: 'originals' },
  { name: 'Renditions and covers', kind: 'derived' },
];

render(
  html`<div class="dashboard stack">
    <section class="card"><${LinePlot} title="Requests per second" unit="Requests per second" points=${rate}
      span=${5 * minute} format=${(v) => v.toFixed(1)} /></section>
    <section class="card"><${BarPlot} title="Responses by status" rows=${statuses}
      format=${(n) => n.toLocaleString('en-GB')} empty="No requests yet." /></section>
    <section class="card"><${BarPlot} title="Storage per library" rows=${storage}
      format=${(n) => `${(n / 1e9).toFixed(1)} GB`} legend=${legend} empty="No library yet." /></section>
  </div>`,
  document.getElementById('root'),
);
