// Plots as inline SVG, each with a text summary (aria-label) and the figures as a
// visually hidden table for screen readers.

import { useWidth } from './hooks.js';
import { html } from './html.js';
import { formatTime } from './ui.js';

// The smallest of 1, 2, 2.5, 5 (times a power of ten) at or above `value`: the axis top.
export function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

// A line over time: points [{t (ms), v (number | null: a gap)}] within the last `span` ms.
export function LinePlot({ title, points, span, format, max: fixedMax, unit }) {
  const [ref, width] = useWidth();
  const height = 170;
  const pad = { left: 46, right: 12, top: 10, bottom: 24 };
  const values = points.map((p) => p.v).filter((v) => v !== null && v !== undefined);
  const max = fixedMax ?? niceCeiling(Math.max(0, ...values));
  const end = points.length ? points[points.length - 1].t : Date.now();
  const start = end - span;
  const x = (t) => pad.left + ((width - pad.left - pad.right) * (t - start)) / span;
  const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - Math.min(v, max) / max);
  const runs = [];
  let run = [];
  for (const point of points) {
    if (point.v === null || point.v === undefined || point.t < start) {
      if (run.length) runs.push(run);
      run = [];
    } else run.push(point);
  }
  if (run.length) runs.push(run);
  const latest = values.length ? values[values.length - 1] : null;
  const peak = values.length ? Math.max(...values) : null;
  const mean = values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  const minutes = Math.round(span / 60000);
  const summary = values.length
    ? `${title}, last ${minutes} minutes: latest ${format(latest)}, peak ${format(peak)}, average ${format(mean)}.`
    : `${title}: no data yet.`;
  const ticks = [0, max / 2, max];
  return html`<figure class="plot" ref=${ref}>
    <figcaption>${title}</figcaption>
    <svg width=${width} height=${height} viewBox=${`0 0 ${width} ${height}`} role="img" aria-label=${summary}>
      <title>${summary}</title>
      <g class="plot-axis">
        ${ticks.map(
          (tick) => html`<g key=${tick}>
            <line class="plot-grid" x1=${pad.left} x2=${width - pad.right} y1=${y(tick)} y2=${y(tick)} />
            <text x=${pad.left - 6} y=${y(tick) + 4} text-anchor="end">${format(tick)}</text>
          </g>`,
        )}
        <text x=${pad.left} y=${height - 6} text-anchor="start">−${minutes} min</text>
        <text x=${width - pad.right} y=${height - 6} text-anchor="end">now</text>
      </g>
      ${runs.map((points, i) => {
        const line = points.map((p, j) => `${j ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
        const area = `${line}L${x(points[points.length - 1].t).toFixed(1)},${y(0)}L${x(points[0].t).toFixed(1)},${y(0)}Z`;
        return html`<g key=${i}>
          <path class="plot-area" d=${area} />
          <path class="plot-line" d=${line} />
          ${points.length === 1 ? html`<circle class="plot-dot" cx=${x(points[0].t)} cy=${y(points[0].v)} r="3" />` : null}
        </g>`;
      })}
    </svg>
    <div class="visually-hidden">
      <table>
        <caption>${title}</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">${unit}</th></tr></thead>
        <tbody>
          ${points
            .filter((p) => p.v !== null && p.v !== undefined)
            .map((p) => html`<tr key=${p.t}><td>${formatTime(p.t)}</td><td>${format(p.v)}</td></tr>`)}
        </tbody>
      </table>
    </div>
  </figure>`;
}

// Horizontal bars: rows [{label, parts: [{name, value, kind}]}] (parts are stacked).
export function BarPlot({ title, rows, format, legend, empty }) {
  const [ref, width] = useWidth();
  const rowHeight = 28;
  const labelWidth = Math.min(170, Math.max(70, Math.round(width * 0.3)));
  const valueWidth = 78;
  const top = 4;
  const height = top + rows.length * rowHeight + 4;
  const totals = rows.map((row) => row.parts.reduce((sum, part) => sum + part.value, 0));
  const max = Math.max(1, ...totals);
  const span = Math.max(10, width - labelWidth - valueWidth - 12);
  const partNames = legend || [];
  const summary = rows.length
    ? `${title}: ${rows.map((row, i) => `${row.label} ${format(totals[i])}`).join(', ')}.`
    : `${title}: ${empty}`;
  const short = (text) => (text.length > 22 ? `${text.slice(0, 21)}…` : text);
  return html`<figure class="plot" ref=${ref}>
    <figcaption>${title}</figcaption>
    ${
      partNames.length > 1 &&
      html`<ul class="plot-legend" aria-hidden="true">
      ${partNames.map((part) => html`<li key=${part.kind}><span class=${`swatch bar-${part.kind}`}></span>${part.name}</li>`)}
    </ul>`
    }
    ${
      rows.length
        ? html`<svg width=${width} height=${height} viewBox=${`0 0 ${width} ${height}`} role="img" aria-label=${summary}>
          <title>${summary}</title>
          ${rows.map((row, i) => {
            const y = top + i * rowHeight;
            let offset = labelWidth + 6;
            return html`<g key=${row.label} class="plot-axis">
              <text x=${labelWidth} y=${y + 18} text-anchor="end">${short(row.label)}</text>
              ${row.parts.map((part) => {
                const w = (span * part.value) / max;
                const rect = html`<rect key=${part.kind} class=${`bar-${part.kind}`} x=${offset} y=${y + 5} width=${Math.max(w, part.value ? 2 : 0)} height=${rowHeight - 10} rx="2"><title>${`${row.label}, ${part.name}: ${format(part.value)}`}</title></rect>`;
                offset += w;
                return rect;
              })}
              <text x=${offset + 6} y=${y + 18} text-anchor="start">${format(totals[i])}</text>
            </g>`;
          })}
        </svg>`
        : html`<p class="muted">${empty}</p>`
    }
    <div class="visually-hidden"><table>
      <caption>${title}</caption>
      <thead>
        <tr><th scope="col">Name</th>${partNames.length > 1 && partNames.map((part) => html`<th scope="col" key=${part.kind}>${part.name}</th>`)}<th scope="col">Total</th></tr>
      </thead>
      <tbody>
        ${rows.map(
          (row, i) => html`<tr key=${row.label}>
            <th scope="row">${row.label}</th>
            ${partNames.length > 1 && row.parts.map((part) => html`<td key=${part.kind}>${format(part.value)}</td>`)}
            <td>${format(totals[i])}</td>
          </tr>`,
        )}
      </tbody>
    </table></div>
  </figure>`;
}
