// Small SVG line/area charts for the job page. No library: the CSP allows only
// same-origin scripts and the page must ship without a build step.
'use strict';

window.DTChart = (function () {
  const NS = 'http://www.w3.org/2000/svg';
  const SECOND = 1000;
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    .map(s => s * SECOND);
  const MARGIN = { top: 8, right: 14, bottom: 22 };

  function node(parent, tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const k in attrs) n.setAttribute(k, attrs[k]);
    if (text != null) n.textContent = text;
    if (parent) parent.appendChild(n);
    return n;
  }

  function pad2(v) { return String(v).padStart(2, '0'); }

  function clock(t) {
    const d = new Date(t);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  }

  function ticksFrom(lo, hi, step) {
    const ticks = [];
    for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++) ticks.push(+(i * step).toPrecision(12));
    return { ticks, step };
  }

  function linearTicks(lo, hi, count, integer) {
    const step = niceStep(hi - lo, count);
    return ticksFrom(lo, hi, integer ? Math.max(1, Math.round(step)) : step);
  }

  // Ticks sit on round local clock times (e.g. every 30 s); getTimezoneOffset
  // is UTC minus local, so shifting by it aligns steps to local midnight.
  function timeTicks(lo, hi, count) {
    const span = hi - lo;
    const step = TIME_STEPS.find(s => span / s <= count + 1) || Math.ceil(span / count / 86400000) * 86400000;
    const off = new Date(lo).getTimezoneOffset() * 60000;
    const ticks = [];
    for (let t = Math.ceil((lo - off) / step) * step + off; t <= hi; t += step) ticks.push(t);
    return ticks;
  }

  function numberLabel(v, step) {
    if (Math.abs(v) >= 10000) return +(v / 1000).toFixed(step >= 1000 ? 0 : 1) + 'k';
    const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
    return v.toFixed(decimals);
  }

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return [lo, hi];
  }

  function yDomain(spec) {
    const ys = [];
    for (const s of spec.series) for (const p of s.pts) { ys.push(p[1]); if (p.length > 2) ys.push(p[2]); }
    let [lo, hi] = extent(ys);
    if (spec.zero) {
      // Rates and durations start from zero, and their scale ignores a few outliers (the first steps' warm-up, a
      // pause for a re-formed ring), which would flatten everything else; the outliers are clipped at the top.
      lo = Math.min(lo, 0);
      if (ys.length >= 10) hi = Math.min(hi, 1.5 * ys.slice().sort((a, b) => a - b)[Math.floor(0.95 * (ys.length - 1))]);
    }
    if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
    return [lo, hi];
  }

  function xDomain(spec) {
    let [lo, hi] = spec.xDomain || extent(spec.series.flatMap(s => s.pts.map(p => p[0])));
    const pad = spec.time ? 30 * SECOND : 1;
    if (lo === hi) { lo -= pad / 2; hi += pad / 2; }
    if (!spec.time) { const d = (hi - lo) * 0.04 + 0.15; lo -= d; hi += d; }
    return [lo, hi];
  }

  function linePath(pts, sx, sy) {
    let d = '';
    for (let i = 0; i < pts.length; i++) d += (i ? 'L' : 'M') + sx(pts[i][0]).toFixed(1) + ',' + sy(pts[i][1]).toFixed(1);
    return d;
  }

  // A band fills between p[2] (bottom) and p[1] (top), used for stacked areas.
  function bandPath(pts, sx, sy) {
    if (!pts.length) return '';
    let d = linePath(pts, sx, sy);
    for (let i = pts.length - 1; i >= 0; i--) d += 'L' + sx(pts[i][0]).toFixed(1) + ',' + sy(pts[i][2]).toFixed(1);
    return d + 'Z';
  }

  function drawAxes(svg, g, yt, xticks, sx, sy, spec) {
    const grid = node(g, 'g', { class: 'grid' });
    const [x0, x1] = g.range;
    for (const v of yt.ticks) {
      const y = sy(v).toFixed(1);
      node(grid, 'line', { x1: x0, x2: x1, y1: y, y2: y });
      node(svg, 'text', { x: x0 - 6, y, dy: '0.32em', 'text-anchor': 'end' }, numberLabel(v, yt.step));
    }
    const bottom = sy.range[0];
    node(g, 'line', { class: 'axis-line', x1: x0, x2: x1, y1: bottom, y2: bottom });
    for (const v of xticks) {
      node(svg, 'text', { x: sx(v).toFixed(1), y: bottom + 15, 'text-anchor': 'middle' },
        spec.time ? clock(v) : String(v));
    }
  }

  function drawSeries(g, s, sx, sy) {
    const cls = s.cls || 's1';
    if (s.type === 'band') { node(g, 'path', { class: 'area ' + cls, d: bandPath(s.pts, sx, sy) }); return; }
    node(g, 'path', { class: 'series ' + cls + (s.type === 'raw' ? ' raw' : ''), d: linePath(s.pts, sx, sy) });
    if (s.type === 'dots') {
      const dots = node(g, 'g', { class: 'dots' });
      for (const p of s.pts) node(dots, 'circle', { class: cls, cx: sx(p[0]).toFixed(1), cy: sy(p[1]).toFixed(1), r: 3.5 });
    }
  }

  function drawMarkers(g, markers, sx, top, bottom, lo, hi) {
    for (const m of markers || []) {
      if (!(m.x >= lo && m.x <= hi)) continue;
      const x = sx(m.x).toFixed(1);
      const mg = node(g, 'g', { class: 'marker', 'data-kind': m.kind });
      node(mg, 'title', {}, m.title);
      node(mg, 'line', { class: 'mark', x1: x, x2: x, y1: top, y2: bottom });
      node(mg, 'line', { class: 'hit', x1: x, x2: x, y1: top, y2: bottom });
    }
  }

  function scale(d0, d1, r0, r1) {
    const k = (r1 - r0) / ((d1 - d0) || 1);
    const f = v => r0 + (v - d0) * k;
    f.invert = p => d0 + (p - r0) / k;
    f.range = [r0, r1];
    return f;
  }

  function draw(svg, spec) {
    const box = svg.parentNode;
    const W = Math.max(200, Math.round(box.clientWidth || 600));
    const H = Math.max(120, Math.round(box.clientHeight || 200));
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.replaceChildren();
    svg._chart = null;
    if (!spec.series.some(s => s.pts.length)) {
      node(svg, 'text', { class: 'waiting', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, spec.empty || 'Waiting for data');
      return;
    }
    const [ylo, yhi] = yDomain(spec);
    // Widening the domain to whole tick steps puts labels on both ends.
    const step = niceStep(yhi - ylo, Math.max(2, Math.floor(H / 48)));
    const y0 = Math.floor(ylo / step + 1e-9) * step, y1 = Math.ceil(yhi / step - 1e-9) * step;
    const yt = ticksFrom(y0, y1, step);
    const labelWidth = Math.max(...yt.ticks.map(v => numberLabel(v, yt.step).length)) * 6.6;
    const left = Math.round(labelWidth + 12);
    const [xlo, xhi] = xDomain(spec);
    const sx = scale(xlo, xhi, left, W - MARGIN.right);
    const sy = scale(y0, y1, H - MARGIN.bottom, MARGIN.top);
    const count = Math.max(2, Math.floor((W - left) / (spec.time ? 95 : 60)));
    const xticks = spec.time ? timeTicks(xlo, xhi, count) : linearTicks(xlo, xhi, count, true).ticks;

    const g = node(svg, 'g', {});
    g.range = [left, W - MARGIN.right];
    drawAxes(svg, g, yt, xticks, sx, sy, spec);
    const clipId = (svg.id || 'chart') + '-clip';
    const clip = node(node(svg, 'defs', {}), 'clipPath', { id: clipId });
    node(clip, 'rect', { x: left, y: MARGIN.top, width: W - MARGIN.right - left, height: H - MARGIN.bottom - MARGIN.top });
    const plot = node(g, 'g', { 'clip-path': 'url(#' + clipId + ')' });
    for (const s of spec.series) drawSeries(plot, s, sx, sy);
    drawMarkers(g, spec.markers, sx, MARGIN.top, H - MARGIN.bottom, xlo, xhi);
    svg._chart = { spec, sx, sy, W, H, left };
    bindHover(svg);
    if (svg._hoverX != null) showHover(svg, svg._hoverX);
  }

  function nearest(pts, x) {
    let lo = 0, hi = pts.length - 1;
    if (hi < 0) return null;
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (pts[mid][0] < x) lo = mid; else hi = mid; }
    return Math.abs(pts[lo][0] - x) <= Math.abs(pts[hi][0] - x) ? pts[lo] : pts[hi];
  }

  // The readout follows the pointer; it is redrawn after live updates so the
  // numbers under the cursor stay current.
  function showHover(svg, px) {
    const c = svg._chart;
    const old = svg.querySelector('.hover');
    if (old) old.remove();
    if (!c || !c.spec.hover || px < c.left || px > c.W - MARGIN.right) return;
    const rows = c.spec.hover.map(r => ({ r, p: nearest(r.pts, c.sx.invert(px)) })).filter(o => o.p);
    if (!rows.length) return;
    const at = rows[0].p[0];
    const g = node(svg, 'g', { class: 'hover' });
    const x = c.sx(at);
    node(g, 'line', { x1: x, x2: x, y1: MARGIN.top, y2: c.H - MARGIN.bottom });
    for (const o of rows) node(g, 'circle', { class: o.r.cls, cx: c.sx(o.p[0]), cy: c.sy(o.p[1]), r: 3 });
    const lines = [c.spec.time ? clock(at) : 'Epoch ' + at].concat(rows.map(o => o.r.name + ': ' + o.r.fmt(o.p[1])));
    const w = Math.max(...lines.map(l => l.length)) * 6.4 + 14, h = lines.length * 15 + 8;
    const bx = x + 10 + w > c.W ? x - 10 - w : x + 10;
    node(g, 'rect', { x: bx, y: MARGIN.top, width: w, height: h, rx: 4 });
    lines.forEach((l, i) => node(g, 'text', { x: bx + 7, y: MARGIN.top + 16 + i * 15 }, l));
  }

  function bindHover(svg) {
    if (svg._hoverBound) return;
    svg._hoverBound = true;
    svg.addEventListener('pointermove', e => {
      const c = svg._chart, r = svg.getBoundingClientRect();
      if (!c || !r.width) return;
      svg._hoverX = (e.clientX - r.left) * c.W / r.width;
      showHover(svg, svg._hoverX);
    });
    svg.addEventListener('pointerleave', () => { svg._hoverX = null; showHover(svg, -1); });
  }

  return { draw, clock };
})();
