import { createHash } from 'node:crypto'

// The page is one response with its CSS and script inline: nothing to fetch from a CDN or from
// us besides the JSON, and a strict Content-Security-Policy allows exactly these two by hash.
// The script draws on <canvas> by hand and writes metric text only through textContent, so a
// label value (a limiter or backend name) can never inject markup.

const STYLE = `
:root { color-scheme: dark; --bg: #14171c; --card: #1c2027; --grid: #2c323c; --text: #d7dce2; --muted: #8a94a3; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.4 system-ui, sans-serif; }
header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; border-bottom: 1px solid var(--grid); }
h1 { font-size: 18px; margin: 0; }
#status { color: var(--muted); }
#status.error { color: #e05561; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 14px; padding: 14px 20px; }
.panel { background: var(--card); border-radius: 8px; padding: 10px 12px; }
.panel h2 { font-size: 14px; margin: 0 0 6px; display: flex; justify-content: space-between; }
.panel canvas { display: block; width: 100%; height: 160px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 6px; color: var(--muted); font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.note { color: var(--muted); font-size: 12px; margin: 6px 0 0; min-height: 1em; }
.panel.no-data canvas { opacity: 0.6; }
`

const SCRIPT = `
(function () {
  'use strict';
  var POLL_MS = 1000, MIN_SPAN_MS = 10000;
  var COLORS = ['#4e9af1', '#f1a14e', '#e05561', '#53c288', '#b07ce8', '#d6c84b', '#5fd0d6', '#e07cc0'];
  var BACKGROUND = '#1c2027', GRID = '#2c323c', MUTED = '#8a94a3';
  // Read back by tests and handy in the console: the last payload and what each chart drew.
  var state = { polls: 0, failures: 0, last: null, drawn: {}, noData: {} };
  window.__optlayerDashboard = state;
  var root = document.getElementById('panels');
  var statusLine = document.getElementById('status');
  var cards = {};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function card(panel) {
    if (cards[panel.id]) return cards[panel.id];
    var section = el('section', 'panel');
    section.setAttribute('data-panel', panel.id);
    var heading = el('h2');
    heading.appendChild(el('span', '', panel.title));
    var current = el('span', 'current');
    heading.appendChild(current);
    var canvas = el('canvas');
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', panel.title);
    var legend = el('div', 'legend');
    var note = el('p', 'note');
    section.appendChild(heading);
    section.appendChild(canvas);
    section.appendChild(legend);
    section.appendChild(note);
    root.appendChild(section);
    return (cards[panel.id] = { section: section, canvas: canvas, legend: legend, note: note, current: current });
  }

  function format(value, unit) {
    if (value === null || value === undefined || !isFinite(value)) return '\\u2013';
    if (unit === 'bytes') {
      var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
      while (Math.abs(value) >= 1024 && i < units.length - 1) { value /= 1024; i++; }
      return value.toFixed(Math.abs(value) < 10 && i > 0 ? 1 : 0) + ' ' + units[i];
    }
    var size = Math.abs(value);
    var digits = size === 0 || size >= 100 ? 0 : size >= 10 ? 1 : size >= 1 ? 2 : 3;
    return value.toFixed(digits) + ' ' + unit;
  }

  // A round axis top above max; byte axes are round in KiB, MiB or GiB.
  function niceCeiling(max, unit) {
    if (!(max > 0)) return 1;
    if (unit === 'bytes') {
      var scale = 1;
      while (max / scale >= 1024) scale *= 1024;
      return niceCeiling(max / scale, '') * scale;
    }
    var power = Math.pow(10, Math.floor(Math.log10(max)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= max) return steps[i] * power;
    return 10 * power;
  }

  function message(ctx, width, height, text) {
    ctx.fillStyle = MUTED;
    ctx.font = '13px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, width / 2, height / 2);
  }

  // Draws one panel; answers how many points it plotted.
  function draw(c, panel, times, historyMs) {
    var canvas = c.canvas, ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, width, height);
    if (panel.status !== 'ok') { message(ctx, width, height, 'no data'); return 0; }
    var max = 0, any = false;
    panel.lines.forEach(function (line) {
      line.values.forEach(function (v) { if (v !== null) { any = true; if (v > max) max = v; } });
    });
    if (!any) { message(ctx, width, height, 'waiting for data'); return 0; }
    var top = niceCeiling(max, panel.unit);
    var left = 62, right = 10, upper = 8, lower = 20;
    var plotW = width - left - right, plotH = height - upper - lower;
    // The axis spans what has been collected (at least MIN_SPAN_MS), up to the whole history,
    // so a freshly opened page does not squeeze its first points into a sliver.
    var end = times[times.length - 1];
    var span = Math.min(historyMs, Math.max(MIN_SPAN_MS, end - times[0]));
    var start = end - span;
    function x(t) { return left + ((t - start) / span) * plotW; }
    function y(v) { return upper + plotH - (v / top) * plotH; }
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (var g = 0; g <= 4; g++) {
      var value = (top * g) / 4, gy = Math.round(y(value)) + 0.5;
      ctx.strokeStyle = GRID;
      ctx.beginPath(); ctx.moveTo(left, gy); ctx.lineTo(width - right, gy); ctx.stroke();
      ctx.fillStyle = MUTED;
      ctx.fillText(format(value, panel.unit), left - 6, gy);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    var marks = 4;
    for (var m = 0; m <= marks; m++) {
      var ago = (span * (marks - m)) / marks, seconds = ago / 1000;
      // The outer labels align inwards so they stay clear of the y labels and the edge.
      ctx.textAlign = m === 0 ? 'left' : m === marks ? 'right' : 'center';
      var label = ago === 0 ? 'now' : '-' + (seconds >= 10 ? Math.round(seconds) : seconds.toFixed(1).replace(/\.0$/, '')) + 's';
      ctx.fillText(label, x(end - ago), height - lower + 5);
    }
    var plotted = 0;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    panel.lines.forEach(function (line, index) {
      var color = COLORS[index % COLORS.length];
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.beginPath();
      var drawing = false;
      line.values.forEach(function (v, i) {
        if (v === null || times[i] < start) { drawing = false; return; }
        var px = x(times[i]), py = y(v);
        var alone = (i === 0 || line.values[i - 1] === null) && (i === line.values.length - 1 || line.values[i + 1] === null);
        // A point with gaps on both sides would draw nothing as a path: mark it with a dot.
        if (alone) ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
        if (drawing) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        drawing = true;
        plotted++;
      });
      ctx.stroke();
    });
    return plotted;
  }

  function lastValue(values) {
    for (var i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  }

  function render(data) {
    data.panels.forEach(function (panel) {
      var c = card(panel);
      c.section.classList.toggle('no-data', panel.status !== 'ok');
      state.noData[panel.id] = panel.status !== 'ok';
      state.drawn[panel.id] = draw(c, panel, data.times, data.historyMs);
      c.legend.textContent = '';
      panel.lines.forEach(function (line, index) {
        var item = el('span');
        var swatch = el('i');
        swatch.style.background = COLORS[index % COLORS.length];
        item.appendChild(swatch);
        item.appendChild(document.createTextNode(line.name + ' ' + format(lastValue(line.values), panel.unit)));
        c.legend.appendChild(item);
      });
      c.note.textContent = panel.status === 'ok' ? '' : panel.reason || 'no data';
      c.current.textContent =
        panel.status === 'ok' && panel.lines.length > 0 ? format(lastValue(panel.lines[0].values), panel.unit) : '';
    });
  }

  function setStatus(text, failed) {
    statusLine.textContent = text;
    statusLine.classList.toggle('error', !!failed);
  }

  function poll() {
    var delay = POLL_MS;
    fetch('dashboard/data', { cache: 'no-store', headers: { accept: 'application/json' } })
      .then(function (res) {
        if (res.status === 429) {
          var retry = Number(res.headers.get('retry-after'));
          delay = Math.max(POLL_MS, (isFinite(retry) ? retry : 1) * 1000);
          throw new Error('rate limited, retrying in ' + Math.round(delay / 1000) + ' s');
        }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (data) {
        state.polls++;
        state.last = data;
        render(data);
        setStatus('updated ' + new Date(data.generatedAt).toLocaleTimeString(), false);
      })
      .catch(function (err) {
        state.failures++;
        setStatus(String(err && err.message ? err.message : err), true);
      })
      .then(function () { setTimeout(poll, delay); });
  }

  window.addEventListener('resize', function () { if (state.last) render(state.last); });
  poll();
})();
`

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
}

/** The dashboard page: one HTML document with inline CSS and script, no external assets. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>optlayer dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>optlayer</h1><span id="status">connecting\u2026</span></header>
<main id="panels"></main>
<script>${SCRIPT}</script>
</body>
</html>
`

/** Content-Security-Policy of {@link DASHBOARD_HTML}: only its own inline style and script, and fetches to us. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  // data: only for the empty favicon, which spares the browser a request that would 404.
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')
