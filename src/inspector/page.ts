/**
 * The inspector's page: one HTML document, its script and its style, served by the
 * inspector's own server (no external asset, no CDN: it works offline, and its Content
 * Security Policy allows nothing else). The script is plain browser JavaScript kept as a
 * string, so the package ships it without a bundler.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>warden inspector</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
<script src="/panels.js" defer></script>
</head>
<body>
<header>
  <h1>warden <span>inspector</span></h1>
  <div id="totals" class="totals"></div>
  <div id="connection" class="connection" data-connected="false">connecting…</div>
</header>
<main>
  <section class="charts">
    <div id="charts"></div>
    <p class="legend"><span class="now">2</span> workers in the state now <span class="recent">5</span> entered it in the last minute
      <span class="lit"></span> the transition just taken</p>
  </section>
  <div class="lower">
  <section class="side">
    <div class="panel"><h2>Workers</h2><div class="scroll"><table id="workers"><thead><tr><th>worker</th><th>kind</th><th>state</th><th>pid</th><th>job</th><th>done</th></tr></thead><tbody></tbody></table></div></div>
    <div class="panel"><h2>Queues <small>waiting jobs by priority</small></h2><div class="scroll"><table id="queues"></table></div></div>
    <div class="panel"><h2>Running jobs</h2><div class="scroll"><table id="running"><thead><tr><th>job</th><th>kind</th><th>worker</th><th>for</th></tr></thead><tbody></tbody></table></div></div>
    <div class="panel"><h2>Security</h2><div id="security"></div></div>
  </section>
  <section class="events panel">
    <div class="log-bar">
      <h2>Events</h2>
      <button id="log-pause" type="button">Pause</button>
      <span id="log-pending" class="pending"></span>
      <input id="log-filter" type="search" placeholder="filter (text)" autocomplete="off">
      <span id="log-groups"></span>
      <button id="log-clear" type="button">Clear</button>
    </div>
    <ol id="log" data-paused="false"></ol>
  </section>
  </div>
</main>
</body>
</html>
`;

export const PAGE_CSS = `
:root { --bg: #f6f7f9; --panel: #fff; --line: #d9dde3; --text: #1d2330; --muted: #6b7384; --accent: #2563eb;
  --ok: #15803d; --bad: #b91c1c; --warn: #b45309; --node: #eef2f8; --active: #f59e0b; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--text); background: var(--bg); }
header { flex: none; display: flex; align-items: center; gap: 18px; padding: 8px 16px; background: #1d2330; color: #fff; }
h1 { margin: 0; font-size: 17px; font-weight: 600; } h1 span { font-weight: 300; color: #9fb4d8; }
h2 { margin: 0 0 6px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
h2 small { text-transform: none; letter-spacing: 0; font-weight: 400; }
.totals { flex: 1; color: #cfd6e4; } .totals b.ok { color: #86efac; } .totals b.bad { color: #fca5a5; }
.connection { padding: 2px 8px; border-radius: 10px; background: #7f1d1d; }
.connection[data-connected="true"] { background: #166534; }
/* The charts side by side on top, as tall as they need (scrolling inside past the screen); below
   them the panels and the event log share all the rest: no empty band, and the log is as tall
   as the screen allows. */
body { display: flex; flex-direction: column; height: 100vh; }
main { flex: 1 1 auto; min-height: 0; display: flex; flex-direction: column; gap: 10px; padding: 10px; }
/* The panels as wide as their widest table (while the screen allows), the log the rest. */
.lower { flex: 1 1 240px; min-height: 240px; display: grid; grid-template-columns: minmax(0, max-content) minmax(0, 1fr); gap: 10px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; min-width: 0; }
.scroll { overflow-x: auto; }
.charts { flex: 0 1 auto; display: flex; flex-direction: column; gap: 6px; min-height: 0; min-width: 0; overflow: auto; }
#charts { display: flex; flex-wrap: wrap; gap: 10px; align-items: stretch; }
/* A chart scrolls sideways rather than shrinking its labels below reading size. */
.chart { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; overflow-x: auto; }
.chart svg { width: 100%; height: auto; display: block; margin: 0 auto; }
.legend { margin: 0; color: var(--muted); font-size: 12px; display: flex; align-items: center; gap: 6px; flex-wrap: wrap; }
.legend .now, .legend .recent { display: inline-block; min-width: 16px; height: 16px; border-radius: 8px; color: #fff; font-size: 10px; font-weight: 700; text-align: center; line-height: 16px; }
.legend .now { background: #d97706; } .legend .recent { background: #64748b; margin-left: 10px; }
.legend .lit { display: inline-block; width: 26px; height: 3px; background: var(--active); margin-left: 10px; }
.side { display: flex; flex-direction: column; gap: 10px; min-height: 0; min-width: 0; overflow: auto; }
.events { display: flex; flex-direction: column; min-height: 0; }
/* Narrow screens: one column, the page scrolls, each part keeps a readable size. */
@media (max-width: 1100px) {
  body { height: auto; }
  .lower { flex: none; grid-template-columns: minmax(0, 1fr); }
  .charts, .side { overflow: visible; }
  .events { height: 70vh; }
  .log-bar { flex-wrap: wrap; }
  header { flex-wrap: wrap; }
}
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 1px 5px; border-bottom: 1px solid #eef0f3; white-space: nowrap; }
th { color: var(--muted); font-weight: 500; }
td.num, th.num { text-align: right; }
.pill { display: inline-block; padding: 0 7px; border-radius: 9px; background: var(--node); border: 1px solid var(--line); font-size: 12px; }
.pill.busy { background: #fef3c7; border-color: var(--active); }
.pill.bad { background: #fee2e2; border-color: var(--bad); }
.feature { display: inline-block; margin: 0 8px 4px 0; }
.feature.yes::before { content: "✓ "; color: var(--ok); font-weight: 700; }
.feature.no::before { content: "✗ "; color: var(--bad); font-weight: 700; }
.verdict { font-weight: 600; } .verdict.yes { color: var(--ok); } .verdict.no { color: var(--bad); }
.log-bar { display: flex; align-items: center; gap: 4px 10px; margin-bottom: 4px; flex-wrap: wrap; }
#log-groups { white-space: nowrap; }
.log-bar h2 { margin: 0; }
.log-bar label { margin-right: 6px; color: var(--muted); }
.pending { color: var(--warn); min-width: 60px; }
#log { margin: 0; padding: 0; list-style: none; overflow: auto; flex: 1; font: 12px/1.5 ui-monospace, "SFMono-Regular", Menlo, monospace; border-top: 1px solid #eef0f3; }
#log li { padding: 0 4px; border-bottom: 1px solid #f3f4f6; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#log li[hidden] { display: none; }
#log .time { color: var(--muted); margin-right: 8px; }
#log .type { display: inline-block; min-width: 140px; font-weight: 600; }
#log li[data-type="job:failed"] .type, #log li[data-type="worker:exited"] .type, #log li[data-type="pool:degraded"] .type,
#log li[data-type="events:overflow"] .type, #log li[data-type="security:warning"] .type { color: var(--bad); }
#log li[data-type="job:succeeded"] .type { color: var(--ok); }
svg .state rect { fill: var(--node); stroke: #9aa5b8; stroke-width: 1; }
svg .state.compound > rect { fill: #fbfcfe; stroke-dasharray: 4 3; }
svg .state.final > rect { stroke-width: 2.5; }
svg .state.active > rect { fill: #fde68a; stroke: var(--active); stroke-width: 2; }
svg .state.compound.active-inside > rect { stroke: var(--active); }
svg .state text.name { font-size: 12px; fill: var(--text); text-anchor: middle; dominant-baseline: central; }
svg .state.compound text.name { font-size: 12px; fill: var(--muted); text-anchor: start; }
svg .badge { display: none; } svg .state.active .badge { display: inline; }
svg .badge circle { fill: #d97706; } svg .badge text { fill: #fff; font-size: 10px; font-weight: 700; text-anchor: middle; dominant-baseline: central; }
svg .edge { fill: none; stroke: #8c96a8; stroke-width: 1.1; }
svg .edge:hover { stroke: var(--accent); stroke-width: 2.2; }
svg .edge.fired { animation: fired 2.5s ease-out; }
@keyframes fired { from { stroke: var(--active); stroke-width: 3.5; } to { stroke: #8c96a8; stroke-width: 1.1; } }
svg .state.entered > rect { animation: entered 1.5s ease-out; }
@keyframes entered { from { stroke: var(--active); stroke-width: 3; } }
svg .any-live { fill: none; stroke: #b6bfcc; stroke-dasharray: 2 4; stroke-width: 1.2; }
svg text.any-live-name { font-size: 11px; fill: var(--muted); font-style: italic; }
svg .recent { display: none; } svg .state.has-recent .recent { display: inline; }
svg .recent rect { fill: #64748b; } svg .recent text { fill: #fff; font-size: 9px; font-weight: 700; text-anchor: middle; dominant-baseline: central; }
svg .initial { fill: #1d2330; }
.chart-title { display: flex; justify-content: space-between; }
.chart-title { gap: 12px; } .chart-title h2 { white-space: nowrap; }
.chart-title span { color: var(--muted); font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
`;

export const PAGE_JS = String.raw`'use strict';
(function () {
  var SVG = 'http://www.w3.org/2000/svg';
  var MAX_LOG = 500;
  var GROUPS = ['job', 'worker', 'artifact', 'pool', 'security', 'events'];
  var nodes = {};
  var edges = {};
  var charts = {};
  var workers = {};
  var pools = [];
  var startedAt = {};
  var totals = { succeeded: 0, failed: {} };
  var log = { paused: false, pending: [] };

  function html(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) { e.append(c); });
    return e;
  }
  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function getJson(path) {
    return fetch(path, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(path + ': ' + r.status);
      return r.json();
    });
  }

  // ---- layout: states in columns by BFS depth from the initial state; compound states as boxes ----
  var LEAF_H = 30, GAP_X = 56, GAP_Y = 14, PAD = 10, HEADER = 20;

  function layoutChart(chart) {
    var byId = {}, children = {};
    chart.states.forEach(function (s) { byId[s.id] = s; children[s.id] = []; });
    var top = [];
    chart.states.forEach(function (s) { if (s.parent === undefined) top.push(s.id); else children[s.parent].push(s.id); });
    // The member of a group a state belongs to: itself or its ancestor in that group.
    function memberOf(id, group) {
      while (id !== undefined && group.indexOf(id) < 0) id = byId[id] && byId[id].parent;
      return id;
    }
    function sizeOf(id) {
      var s = byId[id];
      if (children[id].length === 0) return { w: Math.max(84, s.key.length * 7.2 + 26), h: LEAF_H };
      var inner = group(children[id], s.initial, true);
      s.inner = inner;
      return { w: Math.max(inner.w + 2 * PAD, s.key.length * 7 + 2 * PAD), h: inner.h + PAD + HEADER };
    }
    function group(ids, initial, vertical) {
      var depth = {};
      var start = memberOf(initial, ids) || ids[0];
      depth[start] = 0;
      var queue = [start];
      while (queue.length) {
        var at = queue.shift();
        chart.edges.forEach(function (e) {
          var from = memberOf(e.source, ids), to = memberOf(e.target, ids);
          if (from === at && to !== undefined && depth[to] === undefined) { depth[to] = depth[at] + 1; queue.push(to); }
        });
      }
      var maxDepth = 0;
      ids.forEach(function (id) { if (depth[id] !== undefined && depth[id] > maxDepth) maxDepth = depth[id]; });
      // Final states (and unreachable ones) close the chart on the right.
      ids.forEach(function (id) { if (depth[id] === undefined || (byId[id].final && depth[id] > 0)) depth[id] = maxDepth + 1; });
      var columns = [];
      ids.forEach(function (id) {
        var d = depth[id];
        (columns[d] = columns[d] || []).push(id);
      });
      columns = columns.filter(Boolean);
      // Top level: depth runs left to right. Inside a compound state it runs top to bottom,
      // which keeps a chart of long chains from growing too wide to read.
      var sizes = {}, place = {}, along = 0, across = 0;
      var lanes = columns.map(function (col) {
        var thick = 0, len = 0;
        col.forEach(function (id, i) {
          var z = sizes[id] = sizeOf(id);
          thick = Math.max(thick, vertical ? z.h : z.w);
          len += (vertical ? z.w : z.h) + (i ? (vertical ? GAP_X / 3 : GAP_Y) : 0);
        });
        across = Math.max(across, len);
        return { thick: thick, len: len };
      });
      columns.forEach(function (col, c) {
        var at = (across - lanes[c].len) / 2;
        col.forEach(function (id) {
          var z = sizes[id];
          place[id] = vertical
            ? { x: at, y: along + (lanes[c].thick - z.h) / 2, w: z.w, h: z.h }
            : { x: along + (lanes[c].thick - z.w) / 2, y: at, w: z.w, h: z.h };
          at += (vertical ? z.w + GAP_X / 3 : z.h + GAP_Y);
        });
        along += lanes[c].thick + (vertical ? GAP_Y * 1.6 : GAP_X);
      });
      along -= vertical ? GAP_Y * 1.6 : GAP_X;
      return vertical ? { w: across, h: along, place: place } : { w: along, h: across, place: place };
    }
    var root = group(top, chart.initial, false);
    var boxes = {};
    function absolute(g, ox, oy) {
      for (var id in g.place) {
        var p = g.place[id];
        boxes[id] = { x: ox + p.x, y: oy + p.y, w: p.w, h: p.h };
        if (byId[id].inner) absolute(byId[id].inner, ox + p.x + PAD, oy + p.y + HEADER);
      }
    }
    absolute(root, 0, 0);
    return { boxes: boxes, w: root.w, h: root.h, byId: byId, children: children };
  }

  // Where the line from a box's centre towards (tx, ty) leaves the box.
  function border(b, tx, ty) {
    var cx = b.x + b.w / 2, cy = b.y + b.h / 2, dx = tx - cx, dy = ty - cy;
    if (dx === 0 && dy === 0) return { x: cx, y: cy };
    var s = Math.min(dx ? (b.w / 2) / Math.abs(dx) : Infinity, dy ? (b.h / 2) / Math.abs(dy) : Infinity);
    return { x: cx + dx * s, y: cy + dy * s };
  }

  function center(b) { return { x: b.x + b.w / 2, y: b.y + b.h / 2 }; }

  // Whether a point lies in a box grown by a margin.
  function inside(b, x, y, m) { return x > b.x - m && x < b.x + b.w + m && y > b.y - m && y < b.y + b.h + m; }

  // A quadratic curve from box a to box b that bends around the boxes in its way: the bend
  // grows, to either side, until the curve crosses none (or crosses the fewest).
  function route(a, b, obstacles) {
    var ca = center(a), cb = center(b);
    var mx = (ca.x + cb.x) / 2, my = (ca.y + cb.y) / 2, dx = cb.x - ca.x, dy = cb.y - ca.y;
    var len = Math.sqrt(dx * dx + dy * dy) || 1;
    var best = null;
    [16, -16, 40, -40, 70, -70, 110, -110, 160, -160, 220, -220, 300, -300].some(function (bend) {
      var c = { x: mx - (dy / len) * bend, y: my + (dx / len) * bend };
      var p = border(a, c.x, c.y), q = border(b, c.x, c.y), hits = 0;
      obstacles.forEach(function (o) {
        for (var t = 0.04; t < 0.97; t += 0.03) {
          var u = 1 - t, x = u * u * p.x + 2 * u * t * c.x + t * t * q.x, y = u * u * p.y + 2 * u * t * c.y + t * t * q.y;
          if (inside(o, x, y, 3)) { hits++; return; }
        }
      });
      if (!best || hits < best.hits) best = { p: p, c: c, q: q, hits: hits };
      return hits === 0;
    });
    return best;
  }

  function drawChart(chart) {
    var L = layoutChart(chart);
    var M = 16;
    var box = html('div', { class: 'chart' });
    var title = html('div', { class: 'chart-title' }, [html('h2', {}, [chart.machine + ' machine']), html('span', { 'data-summary': chart.machine })]);
    box.append(title);
    var root = svg('svg', { 'data-machine': chart.machine, role: 'img' });
    root.setAttribute('aria-label', chart.machine + ' state chart');
    var defs = svg('defs', {}, root);
    // In user units: a lit (thicker) edge keeps the same arrow head.
    var marker = svg('marker', { id: 'arrow-' + chart.machine, viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '8', markerHeight: '8', markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' }, defs);
    svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8c96a8' }, marker);
    var frameLayer = svg('g', {}, root);
    var stateLayer = svg('g', {}, root);
    var edgeLayer = svg('g', {}, root);
    var extent = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
    function grow(x, y) { extent.x0 = Math.min(extent.x0, x); extent.y0 = Math.min(extent.y0, y); extent.x1 = Math.max(extent.x1, x); extent.y1 = Math.max(extent.y1, y); }
    function growBox(b) { grow(b.x, b.y); grow(b.x + b.w, b.y + b.h); }
    var byId = L.byId;
    function ancestors(id) { var out = []; for (var p = byId[id] && byId[id].parent; p !== undefined; p = byId[p] && byId[p].parent) out.push(p); return out; }
    function within(id, outer) { return id === outer || ancestors(id).indexOf(outer) >= 0; }
    nodes[chart.machine] = {};
    edges[chart.machine] = [];
    // Parents first, so a compound box lies under its children.
    chart.states.forEach(function (s) {
      var b = L.boxes[s.id];
      growBox(b);
      var compound = L.children[s.id].length > 0;
      var g = svg('g', { class: 'state' + (compound ? ' compound' : '') + (s.final ? ' final' : ''), 'data-state': s.id, 'data-count': '0', 'data-recent': '0' }, stateLayer);
      svg('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: compound ? 8 : 14 }, g);
      var name = svg('text', { class: 'name', x: compound ? b.x + 8 : b.x + b.w / 2, y: compound ? b.y + 11 : b.y + b.h / 2 }, g);
      name.textContent = s.key;
      var badge = svg('g', { class: 'badge' }, g);
      svg('circle', { cx: b.x + b.w - 2, cy: b.y + 2, r: 9 }, badge);
      svg('text', { x: b.x + b.w - 2, y: b.y + 2 }, badge);
      var recent = svg('g', { class: 'recent' }, g);
      // A leaf's on its lower right corner; a compound's on its top edge, clear of its children.
      var rx = compound ? b.x + b.w - 32 : b.x + b.w - 2, ry = compound ? b.y + 2 : b.y + b.h - 1;
      svg('rect', { x: rx - 12, y: ry - 7, width: 24, height: 14, rx: 7 }, recent);
      svg('text', { x: rx, y: ry }, recent);
      svg('title', {}, g).textContent = s.id;
      nodes[chart.machine][s.id] = g;
    });
    // Transitions declared on the machine's root are taken from any live top-level state:
    // one frame around those states, and one arrow per target from it, instead of an arrow
    // from each state that would cross the others.
    var rootEdges = chart.edges.filter(function (e) { return e.fromRoot; });
    var frame = null;
    if (rootEdges.length) {
      var sources = {};
      rootEdges.forEach(function (e) { sources[e.source] = true; });
      var fb = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
      Object.keys(sources).forEach(function (id) {
        var b = L.boxes[id];
        fb.x0 = Math.min(fb.x0, b.x); fb.y0 = Math.min(fb.y0, b.y); fb.x1 = Math.max(fb.x1, b.x + b.w); fb.y1 = Math.max(fb.y1, b.y + b.h);
      });
      frame = { x: fb.x0 - 10, y: fb.y0 - 22, w: fb.x1 - fb.x0 + 20, h: fb.y1 - fb.y0 + 32 };
      var clear = rootEdges.every(function (e) { var t = L.boxes[e.target]; return t && !inside(frame, t.x + t.w / 2, t.y + t.h / 2, 0); });
      if (!clear) frame = null;
    }
    if (frame) {
      growBox(frame);
      svg('rect', { class: 'any-live', x: frame.x, y: frame.y, width: frame.w, height: frame.h, rx: 12 }, frameLayer);
      svg('text', { class: 'any-live-name', x: frame.x + 10, y: frame.y + 13 }, frameLayer).textContent = 'any live state';
      var byTarget = {};
      rootEdges.forEach(function (e) { (byTarget[e.target] = byTarget[e.target] || []).push(e); });
      Object.keys(byTarget).forEach(function (target) {
        var t = L.boxes[target], group = byTarget[target];
        var q = border(t, frame.x + frame.w / 2, frame.y + frame.h / 2), p = border(frame, q.x, q.y);
        var path = svg('path', { class: 'edge', d: 'M' + p.x + ',' + p.y + ' L' + q.x + ',' + q.y, 'marker-end': 'url(#arrow-' + chart.machine + ')', 'data-source': 'any', 'data-target': target, 'data-taken': '0' }, edgeLayer);
        svg('title', {}, path).textContent = group[0].label + ': any live state → ' + target;
        group.forEach(function (e) { edges[chart.machine].push({ source: e.source, target: e.target, fromRoot: true, path: path }); });
      });
    }
    chart.edges.forEach(function (e) {
      if (e.fromRoot && frame) return;
      var a = L.boxes[e.source], b = L.boxes[e.target];
      if (!a || !b || e.source === e.target) return;
      // In the way: every state but the two ends and the compound states around either.
      var obstacles = chart.states.filter(function (s) {
        return !within(e.source, s.id) && !within(e.target, s.id) && !within(s.id, e.source) && !within(s.id, e.target);
      }).map(function (s) { return L.boxes[s.id]; });
      var r = route(a, b, obstacles);
      grow(r.p.x, r.p.y); grow(r.q.x, r.q.y); grow((r.p.x + 2 * r.c.x + r.q.x) / 4, (r.p.y + 2 * r.c.y + r.q.y) / 4);
      var path = svg('path', { class: 'edge', d: 'M' + r.p.x + ',' + r.p.y + ' Q' + r.c.x + ',' + r.c.y + ' ' + r.q.x + ',' + r.q.y, 'marker-end': 'url(#arrow-' + chart.machine + ')',
        'data-source': e.source, 'data-target': e.target, 'data-taken': '0', 'data-crossings': String(r.hits) }, edgeLayer);
      svg('title', {}, path).textContent = e.label + ': ' + e.source + ' → ' + e.target;
      edges[chart.machine].push({ source: e.source, target: e.target, fromRoot: e.fromRoot, path: path });
    });
    if (chart.initial && L.boxes[chart.initial]) {
      var i = L.boxes[chart.initial];
      grow(i.x - 22, i.y);
      svg('circle', { class: 'initial', cx: i.x - 16, cy: i.y + i.h / 2, r: 5 }, edgeLayer);
      svg('path', { class: 'edge', d: 'M' + (i.x - 11) + ',' + (i.y + i.h / 2) + ' L' + i.x + ',' + (i.y + i.h / 2), 'marker-end': 'url(#arrow-' + chart.machine + ')' }, edgeLayer);
    }
    var w = extent.x1 - extent.x0 + 2 * M, h = extent.y1 - extent.y0 + 2 * M;
    root.setAttribute('viewBox', [extent.x0 - M, extent.y0 - M, w, h].join(' '));
    // Never drawn below 90 % (12 px state names stay above 10 px): the chart scrolls instead;
    // never above 100 %, which would only take room from the event log.
    root.style.minWidth = Math.round(w * 0.9) + 'px';
    root.style.maxWidth = Math.round(w) + 'px';
    // Side by side, each chart takes room in proportion to its drawing; where two do not fit
    // at their smallest, they go one under the other.
    box.style.flex = Math.round(w) + ' 1 0';
    box.style.minWidth = 'min(' + (Math.round(w * 0.9) + 22) + 'px, 100%)';
    charts[chart.machine] = { byId: byId, ancestors: ancestors, within: within };
    box.append(root);
    document.getElementById('charts').append(box);
  }

  // ---- recent transitions: an arrow lights up when taken, each state counts its entries ----
  var RECENT_MS = 60000;
  var entries = { worker: {}, supervisor: {} };

  // The drawn edge for a move between two states (ids): the most specific declared one.
  function edgeFor(machine, from, to) {
    var c = charts[machine];
    if (!c) return null;
    var best = null, bestDepth = -1;
    (edges[machine] || []).forEach(function (e) {
      if (!c.within(from, e.source) || !c.within(to, e.target)) return;
      var depth = c.ancestors(e.source).length + c.ancestors(e.target).length + (e.fromRoot ? 0 : 0.5);
      if (depth > bestDepth) { best = e; bestDepth = depth; }
    });
    return best;
  }

  function took(machine, from, to) {
    var c = charts[machine];
    if (!c || from === to || !c.byId[to]) return;
    var now = Date.now();
    // The states entered: the target and those of its ancestors the move did not start inside.
    [to].concat(c.ancestors(to)).forEach(function (id) {
      if (from !== undefined && c.within(from, id)) return;
      (entries[machine][id] = entries[machine][id] || []).push(now);
      var g = nodes[machine][id];
      if (g) { g.classList.remove('entered'); void g.getBBox(); g.classList.add('entered'); }
    });
    var e = from === undefined || !c.byId[from] ? null : edgeFor(machine, from, to);
    if (e) {
      e.path.setAttribute('data-taken', String(Number(e.path.getAttribute('data-taken')) + 1));
      e.path.classList.remove('fired');
      void e.path.getBBox();
      e.path.classList.add('fired');
    }
    renderRecent(machine);
  }

  function renderRecent(machine) {
    var since = Date.now() - RECENT_MS, table = nodes[machine] || {};
    for (var id in table) {
      var list = (entries[machine][id] || []).filter(function (t) { return t >= since; });
      entries[machine][id] = list;
      var g = table[id];
      g.setAttribute('data-recent', String(list.length));
      g.classList.toggle('has-recent', list.length > 0);
      g.querySelector('.recent text').textContent = String(list.length);
      g.querySelector('title').textContent = id + ': ' + (g.getAttribute('data-count') || '0') + ' now, entered ' + list.length + ' times in the last minute';
    }
  }

  // ---- live highlight: how many workers (or pools) are in each state ----
  function highlight(machine, inState) {
    var counts = {}, who = {};
    inState.forEach(function (x) {
      var id = machine + '.' + x.state;
      counts[id] = (counts[id] || 0) + 1;
      (who[id] = who[id] || []).push(x.id);
    });
    var table = nodes[machine] || {};
    for (var id in table) {
      var g = table[id], n = counts[id] || 0;
      g.setAttribute('data-count', String(n));
      g.setAttribute('data-who', (who[id] || []).join(' '));
      g.classList.toggle('active', n > 0);
      g.classList.toggle('active-inside', Object.keys(counts).some(function (k) { return k.indexOf(id + '.') === 0; }));
      g.querySelector('.badge text').textContent = String(n);
    }
    var summary = document.querySelector('[data-summary="' + machine + '"]');
    if (summary) summary.textContent = inState.map(function (x) { return x.id + ': ' + x.state; }).join(' · ');
  }

  function renderWorkers() {
    var list = Object.keys(workers).sort().map(function (id) { return workers[id]; });
    var body = document.querySelector('#workers tbody');
    body.replaceChildren.apply(body, list.map(function (w) {
      var busy = w.state.indexOf('running') === 0;
      return html('tr', { 'data-worker': w.id, 'data-state': w.state }, [
        html('td', {}, [w.id]), html('td', {}, [w.kind]),
        html('td', {}, [html('span', { class: 'pill' + (busy ? ' busy' : w.state === 'dead' ? ' bad' : '') }, [w.state])]),
        html('td', { class: 'num' }, [w.pid === undefined || w.pid === null ? '' : String(w.pid)]),
        html('td', {}, [w.jobId || '']), html('td', { class: 'num' }, [String(w.jobsCompleted || 0)]),
      ]);
    }));
    highlight('worker', list);
    var running = list.filter(function (w) { return w.jobId; });
    var rbody = document.querySelector('#running tbody');
    rbody.replaceChildren.apply(rbody, running.map(function (w) {
      var since = startedAt[w.jobId];
      return html('tr', { 'data-job': w.jobId }, [html('td', {}, [w.jobId]), html('td', {}, [w.kind]), html('td', {}, [w.id]),
        html('td', { class: 'num' }, [since ? ((Date.now() - since) / 1000).toFixed(1) + ' s' : ''])]);
    }));
  }

  function renderQueues(queues) {
    var kinds = Object.keys(queues);
    var priorities = kinds.length ? Object.keys(queues[kinds[0]]) : [];
    var head = html('tr', {}, [html('th', {}, ['pool'])].concat(priorities.map(function (p) { return html('th', { class: 'num' }, [p]); }),
      [html('th', {}, ['supervisor'])]));
    var rows = kinds.map(function (k) {
      var pool = pools.filter(function (x) { return x.kind === k; })[0];
      return html('tr', { 'data-pool': k }, [html('td', {}, [k])].concat(priorities.map(function (p) {
        return html('td', { class: 'num', 'data-priority': p }, [String(queues[k][p])]);
      }), [html('td', {}, [html('span', { class: 'pill' + (pool && pool.degraded ? ' bad' : '') }, [pool ? pool.state : '?'])])]));
    });
    document.getElementById('queues').replaceChildren(html('thead', {}, [head]), html('tbody', {}, rows));
  }

  function renderSecurity(s) {
    var box = document.getElementById('security');
    var verdict = html('div', { class: 'verdict ' + (s.secure ? 'yes' : 'no'), 'data-secure': String(s.secure) },
      [s.secure ? 'every sandbox layer is available' : 'INSECURE: sandbox layers are missing']);
    var features = html('div', {}, s.features.map(function (f) {
      var e = html('span', { class: 'feature ' + (f.available ? 'yes' : 'no'), title: f.detail + (f.fix ? '\nfix: ' + f.fix : '') }, [f.feature]);
      return e;
    }));
    features.append(html('span', { class: 'feature' }, ['Landlock ABI ' + s.landlockAbi]));
    box.replaceChildren(verdict, features);
  }

  function renderTotals() {
    var failed = 0, codes = [];
    for (var code in totals.failed) { failed += totals.failed[code]; codes.push(code + ' ' + totals.failed[code]); }
    var el = document.getElementById('totals');
    el.setAttribute('data-succeeded', String(totals.succeeded));
    el.setAttribute('data-failed', String(failed));
    el.replaceChildren('jobs since this page opened: ', html('b', { class: 'ok' }, [totals.succeeded + ' succeeded']), ' · ',
      html('b', { class: 'bad' }, [failed + ' failed']), codes.length ? ' (' + codes.join(', ') + ')' : '');
  }

  function applyState(state) {
    workers = {};
    state.workers.forEach(function (w) { workers[w.id] = w; });
    // Start times of jobs no longer running (their end may have been among dropped events).
    var running = {};
    state.workers.forEach(function (w) { if (w.jobId) running[w.jobId] = true; });
    Object.keys(startedAt).forEach(function (id) { if (!running[id]) delete startedAt[id]; });
    // A pool's supervisor has no events of its own: its moves show between two snapshots.
    state.pools.forEach(function (p) {
      var before = pools.filter(function (x) { return x.kind === p.kind; })[0];
      if (before && before.state !== p.state) took('supervisor', 'supervisor.' + before.state, 'supervisor.' + p.state);
    });
    pools = state.pools;
    renderWorkers();
    renderQueues(state.queues);
    highlight('supervisor', pools.map(function (p) { return { id: p.kind, state: p.state }; }));
    renderSecurity(state.security);
  }

  function refresh() {
    return getJson('/state').then(applyState, function () { setConnected(false); });
  }

  // ---- events ----
  function apply(record) {
    var d = record.data;
    // Events were dropped: the picture may be stale until the next snapshot, so take it now.
    if (record.type === 'events:overflow') refresh();
    // The handshake is done by now: its state events may already have come.
    else if (record.type === 'worker:spawned' && workers[d.id]) workers[d.id].pid = d.pid;
    else if (record.type === 'worker:spawned') workers[d.id] = { id: d.id, kind: d.kind, state: 'spawning', pid: d.pid, jobsCompleted: 0 };
    else if (record.type === 'worker:state' && workers[d.id]) {
      took('worker', 'worker.' + workers[d.id].state, 'worker.' + d.state);
      workers[d.id].state = d.state;
    } else if (record.type === 'worker:state') {
      took('worker', undefined, 'worker.' + d.state);
      workers[d.id] = { id: d.id, kind: d.kind, state: d.state, jobsCompleted: 0 };
    } else if (record.type === 'worker:exited') {
      if (workers[d.id] && workers[d.id].state !== 'dead') took('worker', 'worker.' + workers[d.id].state, 'worker.dead');
      delete workers[d.id];
    }
    else if (record.type === 'job:started') {
      startedAt[d.jobId] = record.time;
      if (workers[d.workerId]) workers[d.workerId].jobId = d.jobId;
    } else if (record.type === 'job:succeeded' || record.type === 'job:failed') {
      delete startedAt[d.jobId];
      for (var id in workers) if (workers[id].jobId === d.jobId) workers[id].jobId = undefined;
      if (record.type === 'job:succeeded') totals.succeeded++;
      else totals.failed[d.code] = (totals.failed[d.code] || 0) + 1;
      renderTotals();
    }
    if (record.type.indexOf('worker:') === 0 || record.type.indexOf('job:') === 0) renderWorkers();
  }

  function summary(data) {
    if (data === null || typeof data !== 'object') return String(data);
    if ('secure' in data) return 'secure=' + data.secure;
    return Object.keys(data).filter(function (k) { return data[k] === null || typeof data[k] !== 'object'; })
      .map(function (k) { return k + '=' + (typeof data[k] === 'number' ? Math.round(data[k] * 10) / 10 : data[k]); }).join(' ');
  }

  function groupOf(type) { return type.split(':')[0]; }

  function matches(li) {
    var text = document.getElementById('log-filter').value.trim().toLowerCase();
    var box = document.querySelector('#log-groups input[data-group="' + groupOf(li.getAttribute('data-type')) + '"]');
    return (!box || box.checked) && (!text || li.textContent.toLowerCase().indexOf(text) >= 0);
  }

  function appendLog(record) {
    var ol = document.getElementById('log');
    var li = html('li', { 'data-type': record.type, title: record.type + ' ' + summary(record.data) }, [
      html('span', { class: 'time' }, [new Date(record.time).toLocaleTimeString()]),
      html('span', { class: 'type' }, [record.type]), summary(record.data)]);
    li.hidden = !matches(li);
    ol.prepend(li);
    while (ol.children.length > MAX_LOG) ol.lastElementChild.remove();
  }

  function logEvent(record) {
    if (!log.paused) return appendLog(record);
    log.pending.push(record);
    if (log.pending.length > MAX_LOG) log.pending.shift();
    document.getElementById('log-pending').textContent = log.pending.length + ' new';
    document.getElementById('log-pending').setAttribute('data-count', String(log.pending.length));
  }

  function setPaused(paused) {
    log.paused = paused;
    document.getElementById('log').setAttribute('data-paused', String(paused));
    document.getElementById('log-pause').textContent = paused ? 'Resume' : 'Pause';
    if (!paused) {
      log.pending.splice(0).forEach(appendLog);
      document.getElementById('log-pending').textContent = '';
      document.getElementById('log-pending').setAttribute('data-count', '0');
    }
  }

  function refilter() {
    Array.prototype.forEach.call(document.getElementById('log').children, function (li) { li.hidden = !matches(li); });
  }

  function setupLog() {
    var groups = document.getElementById('log-groups');
    GROUPS.forEach(function (g) {
      var box = html('input', { type: 'checkbox', 'data-group': g });
      box.checked = true;
      box.addEventListener('change', refilter);
      groups.append(html('label', {}, [box, ' ' + g]));
    });
    document.getElementById('log-filter').addEventListener('input', refilter);
    document.getElementById('log-pause').addEventListener('click', function () { setPaused(!log.paused); });
    document.getElementById('log-clear').addEventListener('click', function () { document.getElementById('log').replaceChildren(); });
  }

  function setConnected(on) {
    var c = document.getElementById('connection');
    c.setAttribute('data-connected', String(on));
    c.textContent = on ? 'live' : 'disconnected';
  }

  function connect() {
    var source = new EventSource('/events');
    source.onopen = function () { setConnected(true); refresh(); };
    source.onerror = function () { setConnected(false); };
    source.onmessage = function (message) {
      var record = JSON.parse(message.data);
      apply(record);
      logEvent(record);
    };
  }

  function start() {
    setupLog();
    renderTotals();
    getJson('/state').then(function (state) {
      state.machines.forEach(drawChart);
      document.body.setAttribute('data-charts', String(state.machines.length));
      applyState(state);
    }).then(function () {
      connect();
      // Queues, supervisors and running times change without an event of their own; the
      // counts of recent entries age.
      setInterval(function () {
        refresh();
        renderRecent('worker');
        renderRecent('supervisor');
      }, 1000);
    });
  }

  start();
})();
`;
