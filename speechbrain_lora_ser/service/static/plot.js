// Values over time on a canvas. Hand-written: no plotting library could be
// vendored offline in this project yet (see docs/service.md); it draws three
// lines on the model's scale, nothing more.
"use strict";
const COLOURS = { arousal: "#d62728", valence: "#1f77b4", dominance: "#2ca02c" };

function drawPlot(canvas, windows, low, high) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 40;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#999"; ctx.fillStyle = "#333"; ctx.font = "12px sans-serif";
  ctx.strokeRect(pad, 10, w - pad - 10, h - pad - 10);
  const points = windows.filter(p => p.end !== undefined);
  if (!points.length) return;
  const t0 = Math.min(...points.map(p => p.start));
  const t1 = Math.max(...points.map(p => p.end), t0 + 1);
  const lo = low ?? 1, hi = high ?? 7;
  const x = t => pad + (t - t0) / (t1 - t0) * (w - pad - 10);
  const y = v => 10 + (1 - (v - lo) / (hi - lo)) * (h - pad - 10);
  ctx.fillText(String(hi), 5, 16); ctx.fillText(String(lo), 5, h - pad);
  ctx.fillText(t0.toFixed(1) + " s", pad, h - pad + 16);
  ctx.fillText(t1.toFixed(1) + " s", w - 60, h - pad + 16);
  for (const name of Object.keys(COLOURS)) {
    ctx.strokeStyle = COLOURS[name]; ctx.lineWidth = 2; ctx.beginPath();
    let started = false;
    for (const p of points) {
      if (p[name] === null || p[name] === undefined) { started = false; continue; }
      const px = x((p.start + p.end) / 2), py = y(p[name]);
      if (started) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      started = true;
      ctx.fillStyle = COLOURS[name]; ctx.fillRect(px - 2, py - 2, 4, 4);
    }
    ctx.stroke();
  }
}
