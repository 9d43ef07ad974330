// charts.js — Chart.js (vendor/chart.umd.js, loaded as a classic script
// before the app, so window.Chart) behind two helpers.  Charts are drawn
// on canvas; every figure is also written into a table beside it, so the
// numbers are in the DOM for people using screen readers and for tests.
// Without Chart.js (vendor file missing) the tables still show.

export const PALETTE = ['#2563eb', '#16a34a', '#ea580c', '#9333ea', '#0891b2',
  '#db2777', '#65a30d', '#ca8a04', '#4f46e5', '#dc2626'];

let configured = false;
function lib() {
  const C = window.Chart;
  if (C && !configured) {
    C.defaults.animation = false;           // refreshes must not flicker
    C.defaults.maintainAspectRatio = false; // the wrapper's CSS sets height
    C.defaults.font.family = getComputedStyle(document.body).fontFamily;
    C.defaults.plugins.legend.labels.boxWidth = 12;
    configured = true;
  }
  return C;
}

// Create the chart on canvas, or update the one already there in place.
export function drawChart(canvas, config) {
  const C = lib();
  if (!C || !canvas) return null;
  const existing = C.getChart(canvas);
  if (existing) {
    existing.config.type = config.type;
    existing.data = config.data;
    existing.options = config.options || {};
    existing.update('none');
    return existing;
  }
  return new C(canvas, config);
}

export function destroyCharts(root) {
  const C = window.Chart;
  if (!C) return;
  for (const canvas of root.querySelectorAll('canvas')) {
    const c = C.getChart(canvas);
    if (c) c.destroy();
  }
}

export function colour(i) { return PALETTE[i % PALETTE.length]; }
