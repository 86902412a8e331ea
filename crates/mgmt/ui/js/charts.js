// Charts drawn by uPlot (vendor/uPlot.iife.min.js): live line charts fed by the page's own
// polling, and per-row sparklines. History lives in the browser only: the broker keeps
// nothing for them.

/* global uPlot */

const PALETTE = ['#2f7d5b', '#c26b2b', '#3c6fb0', '#8a5aa8', '#b03c4f', '#6b7b2f'];

/// A time series chart that keeps the last `keep` samples.
export class LiveChart {
  constructor(el, { series, keep = 120, height = 180, unit = '' }) {
    this.keep = keep;
    this.data = [[], ...series.map(() => [])];
    const width = Math.max(280, el.clientWidth || 560);
    this.plot = new uPlot({
      width,
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      // At least the last two minutes across, so one sample is not stretched over years.
      scales: { x: { time: true, range: (_u, min, max) => (max - min < 120 ? [max - 120, max] : [min, max]) } },
      axes: [
        { stroke: '#6b6457', grid: { stroke: '#ece6da' } },
        { stroke: '#6b6457', grid: { stroke: '#ece6da' }, size: 60, values: (_u, ticks) => ticks.map((t) => fmtAxis(t) + unit) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color || PALETTE[i % PALETTE.length],
          width: 2,
          fill: s.fill ? `${s.color || PALETTE[i % PALETTE.length]}22` : undefined,
          value: (_u, v) => (v === null || v === undefined ? '–' : fmtAxis(v) + unit),
        })),
      ],
    }, this.data, el);
    this.resize = () => this.plot.setSize({ width: Math.max(280, el.clientWidth), height });
    window.addEventListener('resize', this.resize);
  }

  push(values, at = Date.now() / 1000) {
    this.data[0].push(at);
    values.forEach((v, i) => this.data[i + 1].push(v));
    if (this.data[0].length > this.keep) this.data.forEach((col) => col.shift());
    this.plot.setData(this.data);
  }

  destroy() {
    window.removeEventListener('resize', this.resize);
    this.plot.destroy();
  }
}

function fmtAxis(v) {
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/// A tiny chart with no axes: a row's recent history.
export function sparkline(el, values, color = PALETTE[0]) {
  const xs = values.map((_v, i) => i);
  return new uPlot({
    width: 96,
    height: 24,
    class: 'spark',
    // A little room above and below, so a flat line at zero stays visible.
    padding: [3, 1, 3, 1],
    cursor: { show: false },
    legend: { show: false },
    select: { show: false },
    scales: { x: { time: false }, y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max) * 1.1] } },
    axes: [{ show: false }, { show: false }],
    series: [{}, { stroke: color, width: 1.5, fill: `${color}33`, points: { show: false } }],
  }, [xs, values], el);
}
