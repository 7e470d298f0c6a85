// Charts of the analytics pages, drawn by Chart.js (see docs/admin.md for why that
// library): lines, areas, bars (stacked when there are several series) and pies, with
// tooltips and a legend. A canvas says nothing to a screen reader, so every chart carries a
// one-sentence summary as its accessible name and its figures as a table (shown on
// request, and the whole chart for the "table" type).
import { Chart, registerables } from 'chart.js';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './html.js';

Chart.register(...registerables);

// Distinct at a glance and each at least 4.5:1 against white (WCAG AA for the legend text).
export const PALETTE = [
  '#1f4fd1',
  '#c2410c',
  '#15803d',
  '#7e22ce',
  '#b91c1c',
  '#0e7490',
  '#a16207',
  '#be185d',
  '#4d7c0f',
  '#475569',
];
const COMPARISON = '#6b7280';

function translucent(color, alpha) {
  const n = Number.parseInt(color.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

// The Chart.js configuration of a chart (pure; exported for the component tests).
// datasets: [{label, values, role?: 'previous' | 'average'}] over `labels`.
export function chartConfig({ type, labels, datasets, format, horizontal = false, onPick }) {
  if (type === 'pie') {
    const values = datasets[0]?.values || [];
    return {
      type: 'doughnut',
      data: {
        labels,
        datasets: [
          {
            label: datasets[0]?.label,
            data: values,
            backgroundColor: labels.map((_, i) => PALETTE[i % PALETTE.length]),
          },
        ],
      },
      options: {
        // No animation: figures appear at once (and cost nothing on a busy machine).
        animation: false,
        maintainAspectRatio: false,
        plugins: {
          legend: { position: 'right' },
          tooltip: { callbacks: { label: (item) => `${item.label}: ${format(item.raw)}` } },
        },
      },
    };
  }
  const main = datasets.filter((one) => !one.role);
  const stacked = main.length > 1 && (type === 'bar' || type === 'area');
  let colour = 0;
  const data = datasets.map((one) => {
    if (one.role) {
      // Comparison lines: dashed grey for the previous period, dotted for the average.
      return {
        type: 'line',
        label: one.label,
        data: one.values,
        stack: one.role,
        borderColor: one.role === 'previous' ? COMPARISON : '#111827',
        borderDash: one.role === 'previous' ? [6, 4] : [2, 3],
        borderWidth: 2,
        pointRadius: 0,
        fill: false,
      };
    }
    const color = PALETTE[colour++ % PALETTE.length];
    return {
      type: type === 'bar' ? 'bar' : 'line',
      label: one.label,
      data: one.values,
      stack: 'main',
      borderColor: color,
      backgroundColor: type === 'bar' ? color : translucent(color, type === 'area' ? 0.35 : 0.1),
      fill: type === 'area' ? (stacked && colour > 1 ? '-1' : 'origin') : false,
      pointRadius: labels.length > 60 ? 0 : 2,
      borderWidth: 2,
      // Curved, but never above or below the points (no dip under zero between them).
      cubicInterpolationMode: 'monotone',
    };
  });
  // Counts have whole ticks (no "0.2 downloads"); fractions and hours keep theirs.
  const whole = main.every((one) => one.values.every((value) => Number.isInteger(value ?? 0)));
  const valueAxis = {
    beginAtZero: true,
    stacked,
    ticks: { callback: (value) => format(value), precision: whole ? 0 : undefined },
  };
  const labelAxis = { stacked, ticks: { autoSkip: true, maxRotation: 0 } };
  return {
    type: type === 'bar' ? 'bar' : 'line',
    data: { labels, datasets: data },
    options: {
      animation: false,
      maintainAspectRatio: false,
      indexAxis: horizontal ? 'y' : 'x',
      interaction: { mode: 'index', intersect: false },
      scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
      plugins: {
        legend: { display: datasets.length > 1, position: 'bottom' },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${format(item.raw)}` } },
      },
      onClick: onPick
        ? (_event, elements) => {
            if (elements.length) onPick(elements[0].index);
          }
        : undefined,
    },
  };
}

// A sentence a screen reader says for the chart: what it shows, its range, the peak.
export function chartSummary({ title, labels, datasets, format }) {
  const main = datasets.filter((one) => !one.role);
  if (!labels.length || !main.length) return `${title}: no data for this period.`;
  const parts = main.slice(0, 5).map((one) => {
    const values = one.values;
    let peak = 0;
    for (let i = 1; i < values.length; i += 1) if (values[i] > values[peak]) peak = i;
    const total = values.reduce((sum, value) => sum + (value ?? 0), 0);
    return values.length > 1
      ? `${one.label}: highest ${format(values[peak])} at ${labels[peak]}`
      : `${one.label}: ${format(total)}`;
  });
  const more = main.length > 5 ? `, and ${main.length - 5} more series` : '';
  const span = labels.length > 1 ? ` from ${labels[0]} to ${labels[labels.length - 1]}` : '';
  return `${title}${span}. ${parts.join('; ')}${more}. The figures are in the table.`;
}

export function DataTable({ caption, labels, datasets, format, header = 'Time' }) {
  // A region that can scroll is focusable, so the keyboard can scroll it too.
  return html`<div class="table-wrap chart-table" tabindex="0" role="region" aria-label=${`${caption}, table`}>
    <table>
      <caption>${caption}</caption>
      <thead>
        <tr>
          <th scope="col">${header}</th>
          ${datasets.map((one) => html`<th scope="col" key=${one.label}>${one.label}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${labels.map(
          (label, i) => html`<tr key=${`${i}-${label}`}>
            <th scope="row">${label}</th>
            ${datasets.map((one) => html`<td class="num" key=${one.label}>${format(one.values[i])}</td>`)}
          </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

// <ChartView type="line|area|bar|pie|table" title labels datasets format .../>: the chart
// and, under a disclosure, its table (for "table" the table alone). Without a `height`
// the chart fills the height its container's CSS gives it.
export function ChartView({
  type,
  title,
  labels,
  datasets,
  format,
  header,
  horizontal = false,
  onPick,
  height = 260,
  tableOpen = false,
}) {
  const canvas = useRef(null);
  const chart = useRef(null);
  const pick = useRef(onPick);
  pick.current = onPick;
  const summary = chartSummary({ title, labels, datasets, format });
  useEffect(() => {
    if (type === 'table' || !canvas.current) return undefined;
    const config = chartConfig({
      type,
      labels,
      datasets,
      format,
      horizontal,
      onPick: onPick ? (index) => pick.current?.(index) : undefined,
    });
    if (chart.current && chart.current.config.type === config.type) {
      // Same kind of chart: new figures in place (no flash, tooltips keep working).
      chart.current.data = config.data;
      chart.current.options = config.options;
      chart.current.update();
    } else {
      chart.current?.destroy();
      chart.current = new Chart(canvas.current, config);
    }
    return undefined;
  }, [type, labels, datasets, horizontal, format, Boolean(onPick)]);
  useEffect(
    () => () => {
      chart.current?.destroy();
      chart.current = null;
    },
    [],
  );
  if (type === 'table') {
    return html`<div class="chart chart-only-table">
      <${DataTable} caption=${title} labels=${labels} datasets=${datasets} format=${format} header=${header} />
    </div>`;
  }
  return html`<div class="chart">
    <div class="chart-canvas" style=${height ? { height: `${height}px` } : undefined}>
      <canvas ref=${canvas} role="img" aria-label=${summary}>${summary}</canvas>
    </div>
    <details class="chart-details" open=${tableOpen}>
      <summary>Data table</summary>
      <${DataTable} caption=${title} labels=${labels} datasets=${datasets} format=${format} header=${header} />
    </details>
  </div>`;
}
