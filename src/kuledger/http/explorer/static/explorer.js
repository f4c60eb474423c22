// The balance chart: fetches the server's downsampled buckets (at most a
// few hundred, however many entries the account has) and draws them on a
// canvas: a vertical stroke from each bucket's lowest to highest balance,
// joined through first and last values, so no spike is lost.
"use strict";
(function () {
  const canvas = document.getElementById("balance-chart");
  if (!canvas) return;
  const caption = document.getElementById("chart-caption");
  const fmtTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC";

  fetch(canvas.dataset.series, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then((series) => draw(series))
    .catch((err) => { caption.textContent = "Chart unavailable: " + err.message; });

  function draw(series) {
    const buckets = series.buckets.map((b) => ({
      start: b[0], end: b[1], count: b[2],
      first: Number(b[3]), low: Number(b[4]), high: Number(b[5]), last: Number(b[6]),
      text: { first: b[3], low: b[4], high: b[5], last: b[6] },
    }));
    canvas.dataset.points = String(buckets.length);
    if (!buckets.length) { caption.textContent = "No entries in this range."; canvas.dataset.ready = "1"; return; }
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    canvas.width = width * ratio; canvas.height = height * ratio;
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    const pad = { left: 90, right: 16, top: 12, bottom: 28 };
    const t0 = buckets[0].start, t1 = buckets[buckets.length - 1].end;
    let lo = Math.min(...buckets.map((b) => b.low)), hi = Math.max(...buckets.map((b) => b.high));
    if (hi === lo) { hi += 1; lo -= lo > 0 ? Math.min(1, lo) : 0; }
    const x = (t) => pad.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
    const y = (v) => pad.top + (1 - (v - lo) / (hi - lo)) * (height - pad.top - pad.bottom);

    ctx.fillStyle = "#6b7480"; ctx.strokeStyle = "#dde2e8"; ctx.font = "11px system-ui, sans-serif";
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4, py = y(v);
      ctx.beginPath(); ctx.moveTo(pad.left, py); ctx.lineTo(width - pad.right, py); ctx.stroke();
      ctx.textAlign = "right"; ctx.fillText(v.toPrecision(8).replace(/\.?0+$/, ""), pad.left - 6, py + 4);
    }
    ctx.textAlign = "left"; ctx.fillText(fmtTime(t0), pad.left, height - 8);
    ctx.textAlign = "right"; ctx.fillText(fmtTime(t1), width - pad.right, height - 8);

    ctx.strokeStyle = "#1f7a5a"; ctx.lineWidth = 1.5; ctx.beginPath();
    buckets.forEach((b, i) => {
      const px = x(b.start), qx = x(b.end);
      if (i === 0) ctx.moveTo(px, y(b.first)); else ctx.lineTo(px, y(b.first));
      ctx.lineTo((px + qx) / 2, y(b.low)); ctx.lineTo((px + qx) / 2, y(b.high)); ctx.lineTo(qx, y(b.last));
    });
    ctx.stroke();

    const summary = series.entries + " entries" + (series.sampled ? ", an even sample of " + series.read : "") +
      " in " + buckets.length + " buckets · " + series.currency;
    caption.textContent = summary;
    canvas.dataset.ready = "1";
    canvas.addEventListener("mousemove", (ev) => {
      const px = ev.offsetX;
      let best = buckets[0];
      for (const b of buckets) if (Math.abs(x((b.start + b.end) / 2) - px) < Math.abs(x((best.start + best.end) / 2) - px)) best = b;
      caption.textContent = fmtTime(best.start) + ": " + best.count + " entries, balance " + best.text.first +
        " → " + best.text.last + " (low " + best.text.low + ", high " + best.text.high + ")";
    });
    canvas.addEventListener("mouseleave", () => { caption.textContent = summary; });
  }
})();
