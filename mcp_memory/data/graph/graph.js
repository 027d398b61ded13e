// mcp-memory graph page: draws a precomputed layout on a canvas (no libraries, no network).
// Memory text is user data: it only ever reaches the page through textContent.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("graph-data").textContent);
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const N = D.nodes.id.length;
  const X = Float64Array.from(D.nodes.x);
  const Y = Float64Array.from(D.nodes.y);
  const TYPE = D.nodes.type, STATE = D.nodes.state, PROJ = D.nodes.project;
  const TEXT = D.nodes.text, TAGS = D.nodes.tags, IDS = D.nodes.id;
  const LINKS = D.links, LIN = D.lineage;
  const FADE = D.nodes.fade, CODE = D.nodes.code;
  const FADE_SOON = Math.max(5, Math.round(D.ageAfter / 5));
  const byId = new Map();
  for (let i = 0; i < N; i++) byId.set(IDS[i], i);

  Object.assign(body.dataset, {
    nodes: N, links: LINKS.length, lineage: LIN.length, clusters: D.clusters.length,
    consolidations: D.consolidations.length, projects: D.projects.length,
  });

  // -- colours ------------------------------------------------------------------------
  const TYPE_COLOURS = {
    note: "#58a6ff", decision: "#ff7b39", user_note: "#f778ba", session_summary: "#8b949e",
    insight: "#a371f7", error_fix: "#ff5d5d", preference: "#3fb9a6", fact: "#56d364", todo: "#e3b341",
  };
  const EXTRA = ["#79c0ff", "#d2a8ff", "#ffa657", "#7ee787", "#ff9bce", "#a5d6ff"];
  const STATE_COLOURS = {
    buffer: "#58a6ff", proven: "#56d364", superseded: "#8b949e", expired: "#e3b341", deleted: "#ff5d5d",
  };
  const typeColour = D.types.map((t, k) => TYPE_COLOURS[t] || EXTRA[k % EXTRA.length]);
  const stateColour = D.states.map((s) => STATE_COLOURS[s] || "#8b949e");
  const FADED_STATES = new Set(["superseded", "expired", "deleted"].map((s) => D.states.indexOf(s)));
  const PROVEN = D.states.indexOf("proven");

  // -- sizes --------------------------------------------------------------------------
  const radius = (n) => 4 + 2.2 * Math.sqrt(n);
  const R_LINKS = Float64Array.from(D.nodes.links, radius);
  const R_RECALLS = Float64Array.from(D.nodes.recalls, radius);
  let R = R_LINKS;
  const MIN_PX = 1.6;
  const MAX_FIT = 3;  // fitting a handful of memories stops at this zoom  // the smallest radius a memory is drawn with, in screen pixels

  // -- neighbours (for the detail panel and hover highlight) ----------------------------
  const adj = Array.from({ length: N }, () => []);
  for (const [a, b, s] of LINKS) { adj[a].push([b, s]); adj[b].push([a, s]); }
  const mergedInto = new Map(), mergedFrom = new Map();
  for (const [s, r, c] of LIN) {
    // s === r: the member an offline merge kept as the statement: merged from, not into itself
    if (s !== r) {
      if (!mergedInto.has(s)) mergedInto.set(s, []);
      mergedInto.get(s).push([r, c]);
    }
    if (!mergedFrom.has(r)) mergedFrom.set(r, []);
    mergedFrom.get(r).push([s, c]);
  }
  const looseMembers = D.projects.map(() => []);
  for (let i = 0; i < N; i++) if (!adj[i].length && !mergedInto.has(i) && !mergedFrom.has(i)) looseMembers[PROJ[i]].push(i);
  const clusterOf = new Int32Array(N).fill(-1);
  D.clusters.forEach((members, k) => members.forEach((i) => { clusterOf[i] = k; }));

  // -- spatial grid for hit testing (positions never move) -----------------------------
  let maxR = 4;
  for (let i = 0; i < N; i++) maxR = Math.max(maxR, R_LINKS[i], R_RECALLS[i]);
  const CELL = Math.max(24, 2 * maxR);
  const grid = new Map();
  for (let i = 0; i < N; i++) {
    const key = Math.floor(X[i] / CELL) + "," + Math.floor(Y[i] / CELL);
    let cell = grid.get(key);
    if (!cell) grid.set(key, (cell = []));
    cell.push(i);
  }

  // -- state ----------------------------------------------------------------------------
  const ui = {
    project: -1, statesOn: D.states.map(() => true), typesOn: D.types.map(() => true),
    colour: "type", size: "links", showLinks: true, showClusters: true, fadingOnly: false,
    query: "", hover: -1, selected: -1, cursor: 0, from: "", to: "",
  };
  let focus = new Set();  // the lineage shown with "show lineage"
  const DAY = 86400;
  const dayStart = (value) => (value ? new Date(value + "T00:00:00").getTime() / 1000 : null);
  const visible = new Uint8Array(N);
  const match = new Uint8Array(N);
  let matches = [];
  let lowered = null;

  function updateVisible() {
    let count = 0;
    const from = dayStart(ui.from), until = ui.to ? dayStart(ui.to) + DAY : null;
    const CREATED = D.nodes.created;
    for (let i = 0; i < N; i++) {
      const v = ui.statesOn[STATE[i]] && ui.typesOn[TYPE[i]] &&
        (ui.project < 0 || PROJ[i] === ui.project) &&
        (from === null || CREATED[i] >= from) && (until === null || CREATED[i] < until) &&
        (!ui.fadingOnly || (FADE[i] !== null && FADE[i] <= FADE_SOON));
      visible[i] = v ? 1 : 0;
      count += visible[i];
    }
    body.dataset.visibleNodes = count;
    return count;
  }

  function updateSearch() {
    const q = ui.query.trim().toLowerCase();
    match.fill(0);
    matches = [];
    if (!q) return;
    const idq = /^#?(\d+)$/.exec(q);
    if (!lowered) lowered = TEXT.map((t, i) => (t + "\n" + TAGS[i]).toLowerCase());
    for (let i = 0; i < N; i++) {
      if (!visible[i]) continue;
      if ((idq && IDS[i] === Number(idq[1])) || (!q.startsWith("#") && lowered[i].includes(q))) {
        match[i] = 1;
        matches.push(i);
      }
    }
  }

  // -- view -------------------------------------------------------------------------------
  const canvas = $("view");
  const ctx = canvas.getContext("2d");
  const view = { s: 1, tx: 0, ty: 0, w: 0, h: 0, dpr: 1 };

  function resize() {
    canvas.style.top = $("bar").offsetHeight + "px";
    canvas.style.height = `calc(100vh - ${$("bar").offsetHeight}px)`;
    $("detail").style.top = $("bar").offsetHeight + 8 + "px";
    view.dpr = window.devicePixelRatio || 1;
    view.w = canvas.clientWidth;
    view.h = canvas.clientHeight;
    canvas.width = Math.round(view.w * view.dpr);
    canvas.height = Math.round(view.h * view.dpr);
  }

  function fit(indexes, boxes = true) {
    // zoom so that ``indexes`` fill the view; with ``boxes``, their projects' boxes too (the
    // labels live inside them)
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    const projects = new Set();
    for (const i of indexes) {
      x0 = Math.min(x0, X[i] - R[i]); x1 = Math.max(x1, X[i] + R[i]);
      y0 = Math.min(y0, Y[i] - R[i]); y1 = Math.max(y1, Y[i] + R[i]);
      projects.add(PROJ[i]);
    }
    if (boxes) {
      for (const b of D.blocks) {
        if (!projects.has(b.project)) continue;
        x0 = Math.min(x0, b.x - 14); x1 = Math.max(x1, b.x + b.w + 14);
        y0 = Math.min(y0, b.y - 14); y1 = Math.max(y1, b.y + b.h + 14);
      }
    }
    if (!isFinite(x0)) { x0 = y0 = -100; x1 = y1 = 100; }
    const legendBox = $("legend").getBoundingClientRect();
    const left = view.w > 900 && legendBox.width ? legendBox.right + 16 : 40;  // room for the legend
    const panel = $("detail");
    const pad = panel.hidden ? 40 : view.w - panel.getBoundingClientRect().left + 16, top = 30;  // and the open panel
    const w = Math.max(x1 - x0, 80), h = Math.max(y1 - y0, 80);
    view.s = Math.min(MAX_FIT, Math.min((view.w - pad - left) / w, (view.h - 2 * 40 - top) / h));
    view.tx = left + (view.w - pad - left - w * view.s) / 2 - x0 * view.s;
    view.ty = top + (view.h - top - h * view.s) / 2 - y0 * view.s;
    body.dataset.scale = view.s.toFixed(3);
    body.dataset.fit = [x0, y0, x1, y1].map((v, k) => (v * view.s + (k % 2 ? view.ty : view.tx)).toFixed(0)).join(",");
  }
  function panelRects() {
    // the legend and the open panel in canvas pixels: labels keep out of them
    const top = canvas.getBoundingClientRect().top;
    return [$("legend"), $("detail")].filter((el) => !el.hidden).map((el) => {
      const r = el.getBoundingClientRect();
      return [r.left - 6, r.top - top - 6, r.right + 6, r.bottom - top + 6];
    });
  }
  function visibleIndexes() {
    const out = [];
    for (let i = 0; i < N; i++) if (visible[i]) out.push(i);
    return out;
  }

  // -- drawing ----------------------------------------------------------------------------
  let pending = false;
  function redraw() {
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); }
  }

  function draw() {
    const started = performance.now();
    const { s, tx, ty, w, h, dpr } = view;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#0d1117";
    ctx.fillRect(0, 0, w, h);
    const wx0 = -tx / s, wy0 = -ty / s, wx1 = (w - tx) / s, wy1 = (h - ty) / s;
    const onScreen = (i) => X[i] + R[i] >= wx0 && X[i] - R[i] <= wx1 && Y[i] + R[i] >= wy0 && Y[i] - R[i] <= wy1;
    const searching = matches.length > 0 || ui.query.trim() !== "";
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * tx, dpr * ty);

    // project blocks
    for (const b of D.blocks) {
      if (ui.project >= 0 && b.project !== ui.project) continue;
      ctx.strokeStyle = "rgba(139,148,158,0.22)";
      ctx.lineWidth = 1 / s;
      roundRect(b.x - 14, b.y - 14, b.w + 28, b.h + 28, 12);
      ctx.stroke();
    }

    // cluster halos
    if (ui.showClusters) {
      // an outline with a faint fill: neighbouring halos stay apart instead of one purple mass
      ctx.fillStyle = "rgba(163,113,247,0.07)";
      ctx.strokeStyle = "rgba(163,113,247,0.7)";
      ctx.lineWidth = 1.1 / s;
      ctx.setLineDash([4 / s, 3 / s]);
      const blockOf = new Map(D.blocks.map((b) => [b.project, b]));
      for (const c of halos) {
        if (!c.members.some((i) => visible[i])) continue;
        const b = blockOf.get(PROJ[c.members[0]]);
        ctx.save();  // a halo stays inside its project's box
        ctx.beginPath();
        ctx.rect(b.x - 13, b.y - 13, b.w + 26, b.h + 26);
        ctx.clip();
        ctx.beginPath();
        ctx.arc(c.x, c.y, c.r, 0, 2 * Math.PI);
        if (c.r * s >= 14) ctx.fill();
        ctx.stroke();
        ctx.restore();
      }
      ctx.setLineDash([]);
    }

    // links, in four bands of similarity
    if (ui.showLinks) {
      const bands = [[], [], [], []];
      for (let k = 0; k < LINKS.length; k++) {
        const [a, b, sim] = LINKS[k];
        if (!visible[a] || !visible[b]) continue;
        if (Math.max(X[a], X[b]) < wx0 || Math.min(X[a], X[b]) > wx1 || Math.max(Y[a], Y[b]) < wy0 || Math.min(Y[a], Y[b]) > wy1) continue;
        bands[sim >= 0.85 ? 3 : sim >= 0.7 ? 2 : sim >= 0.55 ? 1 : 0].push(k);
      }
      const alpha = searching ? 0.35 : 1;
      bands.forEach((band, n) => {
        if (!band.length) return;
        ctx.strokeStyle = `rgba(173,186,199,${(0.16 + 0.16 * n) * alpha})`;
        ctx.lineWidth = Math.max(0.6 / s, (0.5 + 0.6 * n) * Math.min(1, s) / s);
        ctx.beginPath();
        for (const k of band) { const [a, b] = LINKS[k]; ctx.moveTo(X[a], Y[a]); ctx.lineTo(X[b], Y[b]); }
        ctx.stroke();
      });
    }

    // lineage: source -> merged result
    if (LIN.length) {
      ctx.strokeStyle = "rgba(242,204,96,0.85)";
      ctx.fillStyle = "rgba(242,204,96,0.95)";
      ctx.lineWidth = 1.4 / s;
      ctx.setLineDash([5 / s, 3 / s]);
      ctx.beginPath();
      const heads = [];
      for (const [a, b] of LIN) {
        if (!visible[a] || !visible[b]) continue;
        const dx = X[b] - X[a], dy = Y[b] - Y[a], d = Math.hypot(dx, dy) || 1;
        const ex = X[b] - (dx / d) * (R[b] + 1.5), ey = Y[b] - (dy / d) * (R[b] + 1.5);
        ctx.moveTo(X[a] + (dx / d) * R[a], Y[a] + (dy / d) * R[a]);
        ctx.lineTo(ex, ey);
        heads.push([ex, ey, dx / d, dy / d]);
      }
      ctx.stroke();
      ctx.setLineDash([]);
      const size = Math.max(4, 7 / Math.sqrt(s));
      ctx.beginPath();
      for (const [ex, ey, ux, uy] of heads) {
        ctx.moveTo(ex, ey);
        ctx.lineTo(ex - ux * size - uy * size * 0.5, ey - uy * size + ux * size * 0.5);
        ctx.lineTo(ex - ux * size + uy * size * 0.5, ey - uy * size - ux * size * 0.5);
        ctx.closePath();
      }
      ctx.fill();
    }

    // nodes, one path per colour and emphasis
    const palette = ui.colour === "type" ? typeColour : stateColour;
    const key = ui.colour === "type" ? TYPE : STATE;
    const groups = new Map();
    const rings = [], fading = [], stale = [], shown = [];
    for (let i = 0; i < N; i++) {
      if (!visible[i] || !onScreen(i)) continue;
      shown.push(i);
      const emphasis = searching && !match[i] && i !== ui.selected ? 2 : FADED_STATES.has(STATE[i]) ? 1 : 0;
      const g = key[i] * 3 + emphasis;
      let list = groups.get(g);
      if (!list) groups.set(g, (list = []));
      list.push(i);
      if (STATE[i] === PROVEN && emphasis < 2) rings.push(i);
      if (FADE[i] !== null && FADE[i] <= FADE_SOON && emphasis < 2) fading.push(i);
      if (CODE[i] && emphasis < 2) stale.push(i);
    }
    for (const [g, list] of groups) {
      ctx.fillStyle = palette[Math.floor(g / 3)];
      ctx.globalAlpha = [1, 0.42, 0.12][g % 3];
      ctx.beginPath();
      const least = MIN_PX / s;  // far out, every memory stays a visible dot
      for (const i of list) { const r = Math.max(R[i], least); ctx.moveTo(X[i] + r, Y[i]); ctx.arc(X[i], Y[i], r, 0, 2 * Math.PI); }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    ring(rings, "#e6edf3", 1.3, 1.6);
    ctx.setLineDash([2.5 / s, 2 / s]);
    ring(fading, "#ff9f43", 1.4, 3);
    ctx.setLineDash([]);
    ring(stale, "#f85149", 1.4, 2.4);  // its code changed since: may be out of date
    ring(matches.filter((i) => visible[i]), "#f2cc60", 2.2, 3.2);
    ring([...focus].filter((i) => visible[i]), "#f2cc60", 2, 3);

    // the hovered or selected memory and its links
    for (const i of [ui.selected, ui.hover]) {
      if (i < 0 || !visible[i]) continue;
      ctx.strokeStyle = "rgba(242,204,96,0.9)";
      ctx.lineWidth = 1.6 / s;
      ctx.beginPath();
      for (const [j] of adj[i]) if (visible[j]) { ctx.moveTo(X[i], Y[i]); ctx.lineTo(X[j], Y[j]); }
      ctx.stroke();
      ring([i], "#ffffff", 2.4, 4.5);
    }

    // labels: project names always, memory text when zoomed in
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    // labels that would overlap an earlier (more important) one are left out
    // every memory big enough on screen is a candidate, the most important first; a label
    // that finds no free spot inside its own project's box is left out
    let labelled = shown.filter((i) => R[i] * s >= 3 || i === ui.selected || match[i]);
    let placed = 0, outside = 0;
    if (labelled.length <= 3000) {
      labelled.sort((a, b) => (b === ui.selected) - (a === ui.selected) || match[b] - match[a] || focus.has(b) - focus.has(a) || R[b] - R[a] || a - b);
      labelled = labelled.slice(0, 600);
      ctx.font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
      const taken = new Map();
      const BOX = 64;
      const free = (x0, y0, x1, y1) => {
        for (let gx = Math.floor(x0 / BOX); gx <= Math.floor(x1 / BOX); gx++) {
          for (let gy = Math.floor(y0 / BOX); gy <= Math.floor(y1 / BOX); gy++) {
            for (const r of taken.get(gx + "," + gy) || []) {
              if (x0 < r[2] && x1 > r[0] && y0 < r[3] && y1 > r[1]) return false;
            }
          }
        }
        return true;
      };
      const take = (rect) => {
        for (let gx = Math.floor(rect[0] / BOX); gx <= Math.floor(rect[2] / BOX); gx++) {
          for (let gy = Math.floor(rect[1] / BOX); gy <= Math.floor(rect[3] / BOX); gy++) {
            const k = gx + "," + gy;
            if (!taken.has(k)) taken.set(k, []);
            taken.get(k).push(rect);
          }
        }
      };
      for (const i of shown) {  // discs are obstacles too, so a label never hides a memory
        const r = R[i] * s, cx = X[i] * s + tx, cy = Y[i] * s + ty;
        if (r >= 2) take([cx - r, cy - r, cx + r, cy + r]);
      }
      for (const box of panelRects()) take(box);  // nor does the legend or the open panel hide one
      const boxOf = new Map(D.blocks.map((b) => [b.project, [
        (b.x - 14) * s + tx + 2, (b.y - 14) * s + ty + 2, (b.x + b.w + 14) * s + tx - 2, (b.y + b.h + 14) * s + ty - 2]]));
      const longest = s > 3 ? 70 : 42;
      // first every label to the right of its memory, then the rest to the left if they fit
      const done = new Uint8Array(labelled.length);
      const passes = [...labelled.map((i, k) => [k, i, 1]), ...labelled.map((i, k) => [k, i, -1])];
      for (const [k, i, side] of passes) {
        if (placed >= 250) break;
        if (done[k]) continue;
        const cx = X[i] * s + tx, cy = Y[i] * s + ty, r = R[i] * s;
        const [bx0, by0, bx1, by1] = boxOf.get(PROJ[i]);
        if (cy - 8 < by0 || cy + 8 > by1) continue;
        // the longest text that fits the room on this side, inside the box
        let spot = null;
        {
          const room = side > 0 ? bx1 - (cx + r + 4) : cx - r - 4 - bx0;
          for (let n = longest; n >= 12 && !spot; n = Math.floor(n * 0.75)) {
            const label = shortText(i, n);
            const width = ctx.measureText(label).width;
            if (width > room) continue;
            const sx = side > 0 ? cx + r + 4 : cx - r - 4 - width;
            // on the left, keep clear of whatever sits just before the text: it would read as its label
            if (free(sx - (side > 0 ? 1 : 24), cy - 8, sx + width + 1, cy + 8)) spot = [sx, cy, label, width];
          }
        }
        if (!spot) continue;
        done[k] = 1;
        const [sx, sy, label, width] = spot;
        take([sx - 1, sy - 8, sx + width + 1, sy + 8]);
        if (sx < bx0 - 0.5 || sx + width > bx1 + 0.5) outside++;
        placed++;
        ctx.lineWidth = 3.5;
        ctx.strokeStyle = "rgba(13,17,23,0.92)";
        ctx.strokeText(label, sx, sy);
        ctx.fillStyle = searching && !match[i] ? "rgba(230,237,243,0.35)" : "#e6edf3";
        ctx.fillText(label, sx, sy);
      }
    }
    body.dataset.labels = placed;
    body.dataset.labelsOutside = outside;
    looseCaptions(s, tx, ty, w, h);
    ctx.font = "600 15px system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
    ctx.textBaseline = "bottom";
    for (const b of D.blocks) {
      if (ui.project >= 0 && b.project !== ui.project) continue;
      const p = D.projects[b.project];
      const n = projectCounts[b.project];
      const loose = looseMembers[b.project].length;
      const label = `${p.name}  ·  ${n.toLocaleString("en-US")} ${n === 1 ? "memory" : "memories"}` +
        (loose ? `  ·  ${loose.toLocaleString("en-US")} unlinked` : "");
      // sticky: a block whose top left is off screen keeps its name at the edge
      const bottom = (b.y + b.h) * s + ty, right = (b.x + b.w) * s + tx;
      if (bottom < 24 || right < 8 || (b.x - 14) * s + tx > w || (b.y - 14) * s + ty > h) continue;
      const sx = Math.max((b.x - 14) * s + tx, Math.min(8, right - 60));
      const sy = Math.max((b.y - 14) * s + ty - 5, Math.min(22, bottom));
      const room = (b.w + 28) * s + 40;  // up to the next block
      let text = label;
      if (ctx.measureText(text).width > room) text = p.name;
      while (text.length > 1 && ctx.measureText(text).width > room) text = text.slice(0, -2) + "…";
      ctx.lineWidth = 4;
      ctx.strokeStyle = "rgba(13,17,23,0.95)";
      ctx.strokeText(text, sx, sy);
      ctx.fillStyle = "#c9d1d9";
      ctx.fillText(text, sx, sy);
    }
    body.dataset.drawnNodes = shown.length;
    body.dataset.drawMs = (performance.now() - started).toFixed(1);
  }

  function ring(list, colour, width, gap) {
    if (!list.length) return;
    const s = view.s;
    ctx.strokeStyle = colour;
    ctx.lineWidth = Math.min(width, width * s * 1.5) / s;  // thinner when zoomed far out
    ctx.beginPath();
    for (const i of list) {
      const r = R[i] + gap / Math.max(s, 0.5);
      ctx.moveTo(X[i] + r, Y[i]);
      ctx.arc(X[i], Y[i], r, 0, 2 * Math.PI);
    }
    ctx.stroke();
  }

  function roundRect(x, y, w, h, r) {
    ctx.beginPath();
    ctx.moveTo(x + r, y);
    ctx.arcTo(x + w, y, x + w, y + h, r);
    ctx.arcTo(x + w, y + h, x, y + h, r);
    ctx.arcTo(x, y + h, x, y, r);
    ctx.arcTo(x, y, x + w, y, r);
    ctx.closePath();
  }

  function looseCaptions(s, tx, ty, w, h) {
    // "unlinked · N": the sunflower disc of a project's memories without links
    ctx.font = "11px system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
    ctx.textBaseline = "bottom";
    for (const b of D.blocks) {
      if (!b.loose || (ui.project >= 0 && b.project !== ui.project)) continue;
      const [lx, ly, lw] = b.loose;
      const sx = lx * s + tx, sy = ly * s + ty - 3;
      // only where it fits between the box's top and the first row; the title counts them too
      if (lw * s < 36 || sy - ((b.y - 14) * s + ty) < 14 || sx > w || sy < 0 || sy > h) continue;
      let n = 0;
      for (const i of looseMembers[b.project]) n += visible[i];
      if (!n) continue;
      const text = `unlinked · ${n}`;
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(13,17,23,0.95)";
      ctx.strokeText(text, sx, sy);
      ctx.fillStyle = "#8b949e";
      ctx.fillText(text, sx, sy);
    }
  }

  function shortText(i, width) {
    const flat = TEXT[i].slice(0, width * 4).replace(/\s+/g, " ").trim();  // a memory may be 20k characters
    return flat.length <= width ? flat : flat.slice(0, width - 1) + "…";
  }

  const projectCounts = D.projects.map(() => 0);
  for (let i = 0; i < N; i++) projectCounts[PROJ[i]]++;

  let halos = [];
  function computeHalos() {
    halos = D.clusters.map((members) => {
      let cx = 0, cy = 0;
      for (const i of members) { cx += X[i]; cy += Y[i]; }
      cx /= members.length; cy /= members.length;
      let r = 0;
      for (const i of members) r = Math.max(r, Math.hypot(X[i] - cx, Y[i] - cy) + R[i]);
      return { members, x: cx, y: cy, r: r + 2.5 };
    });
  }

  // -- interaction --------------------------------------------------------------------------
  function toWorld(ev) {
    const rect = canvas.getBoundingClientRect();
    return [(ev.clientX - rect.left - view.tx) / view.s, (ev.clientY - rect.top - view.ty) / view.s];
  }

  function hit(ev) {
    const [wx, wy] = toWorld(ev);
    const cx = Math.floor(wx / CELL), cy = Math.floor(wy / CELL);
    let best = -1, bestD = Infinity;
    const slack = 3 / view.s;
    for (let gx = cx - 1; gx <= cx + 1; gx++) {
      for (let gy = cy - 1; gy <= cy + 1; gy++) {
        const cell = grid.get(gx + "," + gy);
        if (!cell) continue;
        for (const i of cell) {
          if (!visible[i]) continue;
          const d = Math.hypot(X[i] - wx, Y[i] - wy);
          if (d <= Math.max(R[i], MIN_PX / view.s) + slack && d < bestD) { best = i; bestD = d; }
        }
      }
    }
    return best;
  }

  const tip = $("tip");
  function showTip(i, ev) {
    if (i < 0) { tip.hidden = true; return; }
    tip.replaceChildren();
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `#${IDS[i]} · ${D.types[TYPE[i]]} · ${D.states[STATE[i]]} · ${D.projects[PROJ[i]].name} · ${date(D.nodes.created[i])} · ${D.nodes.links[i]} links · ${D.nodes.recalls[i]} recalls`;
    const text = document.createElement("div");
    text.className = "text";
    const t = TEXT[i];
    text.textContent = t.length > 700 ? t.slice(0, 699) + "… (click for the full text)" : t;
    tip.append(meta, text);
    tip.hidden = false;
    const pad = 14;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let x = ev.clientX + pad, y = ev.clientY + pad;
    if (x + w > window.innerWidth - 8) x = ev.clientX - w - pad;
    if (y + h > window.innerHeight - 30) y = Math.max(50, ev.clientY - h - pad);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }

  function date(ts) {
    if (ts === null || ts === undefined) return "never";
    const d = new Date(ts * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  const consolidationById = new Map(D.consolidations.map((c) => [c.id, c]));
  function consolidationText(cid) {
    const c = consolidationById.get(cid);
    return c ? `consolidation ${cid} (${c.provider}, ${date(c.at)})` : `consolidation ${cid}`;
  }

  function shellWord(text) {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function lineageOf(i) {
    // every memory connected to i by consolidation lineage, in both directions
    const seen = new Set([i]), todo = [i];
    while (todo.length) {
      const j = todo.pop();
      for (const [k] of [...(mergedFrom.get(j) || []), ...(mergedInto.get(j) || [])]) {
        if (!seen.has(k)) { seen.add(k); todo.push(k); }
      }
    }
    return seen;
  }

  function copy(command, button) {
    // the page has no server: an action is the CLI command, copied for the user to run
    body.dataset.copied = command;
    const done = () => { button.textContent = "copied"; setTimeout(() => { button.textContent = "copy"; }, 1500); };
    const fallback = () => {
      const area = document.createElement("textarea");
      area.value = command;
      area.setAttribute("readonly", "");
      area.style.position = "fixed"; area.style.opacity = "0";
      body.append(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* the command stays visible to copy by hand */ }
      area.remove();
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(command).then(done, fallback);
    else fallback();
  }

  function actions(i) {
    const box = $("d-actions");
    box.replaceChildren();
    const id = IDS[i], state = D.states[STATE[i]], key = D.projects[PROJ[i]].key;
    const where = key === "@global" ? "--global" : "--project " + shellWord(key);
    const list = [];
    // the verbs of main's CLI: `restore` and `unconsolidate` (the old flags still work there)
    if (state === "deleted" || state === "expired") list.push(["restore", `memcycle restore ${id}`]);
    if (state !== "deleted") list.push(["forget (restorable)", `memcycle forget ${id}`]);
    if (state === "buffer") list.push(["promote to proven", `memcycle promote ${id}`]);
    if (state === "proven") list.push(["route into CLAUDE.md (a plan; add --apply)", `memcycle route --id ${id} ${where}`]);
    if (clusterOf[i] >= 0) {
      const ids = D.clusters[clusterOf[i]].map((j) => IDS[j]).sort((a, b) => a - b);
      list.push([`consolidate its cluster of ${ids.length}`, `memcycle consolidate ${ids.join(" ")}`]);
    }
    for (const [, c] of mergedFrom.get(i) || []) { list.push([`undo consolidation ${c}`, `memcycle unconsolidate ${c}`]); break; }
    for (const [, c] of mergedInto.get(i) || []) list.push([`undo consolidation ${c} (restores this memory)`, `memcycle unconsolidate ${c}`]);
    list.push(["show its links", `memcycle links ${id}`]);
    const h = document.createElement("h3"); h.textContent = "actions (copy the command)"; box.append(h);
    if (mergedFrom.has(i) || mergedInto.has(i)) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "show-lineage"; b.textContent = "show lineage";
      b.addEventListener("click", () => showLineage(i));
      box.append(b);
    }
    for (const [label, command] of list) {
      const row = document.createElement("div"); row.className = "action";
      const b = document.createElement("button"); b.type = "button"; b.textContent = "copy";
      b.dataset.command = command;
      b.title = label;
      b.addEventListener("click", () => copy(command, b));
      const what = document.createElement("span"); what.className = "what"; what.textContent = label;
      const code = document.createElement("code"); code.textContent = command;
      row.append(b, what, code);
      box.append(row);
    }
  }

  function showLineage(i) {
    focus = lineageOf(i);
    body.dataset.focus = focus.size;
    fit([...focus].filter((j) => visible[j]), false);
    redraw();
  }

  function select(i, centre) {
    ui.selected = i;
    if (i < 0 || !focus.has(i)) { focus = new Set(); body.dataset.focus = 0; }
    const panel = $("detail");
    if (i < 0) { panel.hidden = true; redraw(); writeHash(); return; }
    $("d-title").textContent = `Memory #${IDS[i]}`;
    const meta = $("d-meta");
    meta.replaceChildren();
    const fade = FADE[i];
    const rows = [
      ["type", D.types[TYPE[i]]],
      ["state", D.states[STATE[i]] + (D.nodes.protected[i] ? " (protected)" : "")],
      ["project", D.projects[PROJ[i]].name],
      ["created", date(D.nodes.created[i])],
      ["recalls", `${D.nodes.recalls[i]} (last ${date(D.nodes.recalled[i])})`],
      ["links", String(D.nodes.links[i]) + (!D.nodes.links[i] && mergedFrom.has(i) ? " (a merged memory: its sources are below)" : "")],
      ["tags", TAGS[i] || "—"],
    ];
    const from = mergedFrom.get(i) || [], into = mergedInto.get(i) || [];
    if (from.length) rows.push(["lineage", `merged from ${from.length} ${from.length === 1 ? "memory" : "memories"} by ${consolidationText(from[0][1])}`]);
    for (const [r, c] of into) rows.push(["lineage", `merged into #${IDS[r]} by ${consolidationText(c)}`]);
    if (clusterOf[i] >= 0) rows.push(["cluster", `${D.clusters[clusterOf[i]].length} memories ready to consolidate`]);
    if (CODE[i]) rows.push(["code", CODE[i]]);
    if (fade !== null) rows.push(["fading", fade === 0 ? "unlinked: an expiry candidate at the next maintain" : `unlinked: an expiry candidate after ${fade} more memories in this project`]);
    for (const [k, v] of rows) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      meta.append(dt, dd);
    }
    $("d-text").textContent = TEXT[i];
    actions(i);
    const rel = $("d-rel");
    rel.replaceChildren();
    const section = (title, items) => {
      if (!items.length) return;
      const h = document.createElement("h3"); h.textContent = title; rel.append(h);
      for (const [j, label] of items) {
        const a = document.createElement("a");
        const sim = document.createElement("span"); sim.className = "sim"; sim.textContent = label;
        a.append(sim, document.createTextNode(`#${IDS[j]} ${shortText(j, 90)}`));
        a.addEventListener("click", () => select(j, true));
        rel.append(a);
      }
    };
    section("merged into", (mergedInto.get(i) || []).map(([r, c]) => [r, `consolidation ${c}`]));
    section("merged from", (mergedFrom.get(i) || []).map(([s2, c]) => [s2, `consolidation ${c}`]));
    section("linked to", adj[i].slice().sort((a, b) => b[1] - a[1]).map(([j, sim]) => [j, sim.toFixed(2)]));
    panel.hidden = false;
    panel.scrollTop = 0;
    if (centre) {
      view.s = Math.max(view.s, 1.6);
      view.tx = view.w * 0.35 - X[i] * view.s;
      view.ty = view.h / 2 - Y[i] * view.s;
    }
    writeHash();
    redraw();
  }

  let drag = null;
  canvas.addEventListener("pointerdown", (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, tx: view.tx, ty: view.ty, moved: false };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (drag) {
      const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) > 3) { drag.moved = true; canvas.classList.add("dragging"); tip.hidden = true; }
      if (drag.moved) { view.tx = drag.tx + dx; view.ty = drag.ty + dy; redraw(); return; }
    }
    const i = hit(ev);
    canvas.classList.toggle("over", i >= 0);
    if (i !== ui.hover) { ui.hover = i; redraw(); }
    showTip(i, ev);
  });
  canvas.addEventListener("pointerup", (ev) => {
    if (drag && !drag.moved) select(hit(ev), false);
    drag = null;
    canvas.classList.remove("dragging");
  });
  canvas.addEventListener("pointerleave", () => { tip.hidden = true; if (ui.hover >= 0) { ui.hover = -1; redraw(); } });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const rect = canvas.getBoundingClientRect();
    const mx = ev.clientX - rect.left, my = ev.clientY - rect.top;
    const factor = Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015));
    const s = Math.min(40, Math.max(0.01, view.s * factor));
    view.tx = mx - ((mx - view.tx) * s) / view.s;
    view.ty = my - ((my - view.ty) * s) / view.s;
    view.s = s;
    tip.hidden = true;
    redraw();
  }, { passive: false });

  // -- controls -------------------------------------------------------------------------------
  const search = $("search"), projectSelect = $("project");
  D.projects.forEach((p, k) => {
    const o = document.createElement("option");
    o.value = String(k);
    o.textContent = `${p.name} (${projectCounts[k]})`;
    projectSelect.append(o);
  });
  const stateCounts = D.states.map(() => 0);
  for (let i = 0; i < N; i++) stateCounts[STATE[i]]++;
  const chips = $("states");
  D.states.forEach((name, k) => {
    if (!stateCounts[k]) return;
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.setAttribute("role", "button");
    chip.dataset.state = name;
    const dot = document.createElement("span"); dot.className = "dot"; dot.style.background = stateColour[k];
    chip.append(dot, document.createTextNode(`${name} ${stateCounts[k]}`));
    chip.setAttribute("aria-pressed", String(ui.statesOn[k]));
    chip.addEventListener("click", () => {
      ui.statesOn[k] = !ui.statesOn[k];
      chip.setAttribute("aria-pressed", String(ui.statesOn[k]));
      refresh(false);
    });
    chips.append(chip);
  });

  let searchTimer = 0;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { ui.query = search.value; ui.cursor = 0; refresh(false); }, 120);
  });
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      clearTimeout(searchTimer);
      if (ui.query !== search.value) { ui.query = search.value; ui.cursor = 0; refresh(false); }
      if (matches.length) { select(matches[ui.cursor % matches.length], true); ui.cursor++; }
    } else if (ev.key === "Escape") {
      search.value = ""; ui.query = ""; refresh(false);
    }
  });
  projectSelect.addEventListener("change", () => { ui.project = Number(projectSelect.value || -1); refresh(true); });
  $("colour").addEventListener("change", (ev) => { ui.colour = ev.target.value; refresh(false); });
  $("size").addEventListener("change", (ev) => {
    ui.size = ev.target.value;
    R = ui.size === "recalls" ? R_RECALLS : R_LINKS;
    computeHalos();
    refresh(false);
  });
  $("show-links").addEventListener("change", (ev) => { ui.showLinks = ev.target.checked; refresh(false); });
  $("show-clusters").addEventListener("change", (ev) => { ui.showClusters = ev.target.checked; refresh(false); });
  $("fading").addEventListener("change", (ev) => { ui.fadingOnly = ev.target.checked; refresh(true); });
  $("fit").addEventListener("click", () => { fit(visibleIndexes()); redraw(); });
  // dates: the inputs offer the range of the memories' creation days
  const isoDay = (ts) => { const d = new Date(ts * 1000); const p = (n) => String(n).padStart(2, "0"); return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`; };
  if (N) {
    let lo = Infinity, hi = -Infinity;
    for (const t of D.nodes.created) { lo = Math.min(lo, t); hi = Math.max(hi, t); }
    for (const input of [$("from"), $("to")]) { input.min = isoDay(lo); input.max = isoDay(hi); }
  }
  for (const name of ["from", "to"]) {
    $(name).addEventListener("change", (ev) => { ui[name] = ev.target.value; refresh(true); });
  }
  $("close").addEventListener("click", () => select(-1, false));
  window.addEventListener("keydown", (ev) => {
    if (ev.target === search) return;
    if (ev.key === "/") { ev.preventDefault(); search.focus(); }
    else if (ev.key === "Escape") select(-1, false);
    else if (ev.key === "f") { fit(visibleIndexes()); redraw(); }
  });
  window.addEventListener("resize", () => { resize(); redraw(); });

  let legendOpen = true;
  function legend() {
    const box = $("legend");
    box.replaceChildren();
    const toggle = document.createElement("button");
    toggle.type = "button"; toggle.id = "legend-toggle";
    toggle.textContent = legendOpen ? "hide legend" : "legend";
    toggle.addEventListener("click", () => { legendOpen = !legendOpen; legend(); fit(visibleIndexes()); redraw(); });
    box.append(toggle);
    box.classList.toggle("closed", !legendOpen);
    if (!legendOpen) return;
    const head = (t) => { const h = document.createElement("h3"); h.textContent = t; box.append(h); };
    const row = (colour, label, n, off, onclick) => {
      const r = document.createElement("div");
      r.className = "row" + (off ? " off" : "");
      const dot = document.createElement("span"); dot.className = "dot"; dot.style.background = colour;
      const l = document.createElement("span"); l.textContent = label;
      const c = document.createElement("span"); c.className = "n"; c.textContent = n === null ? "" : String(n);
      r.append(dot, l, c);
      if (onclick) r.addEventListener("click", onclick);
      box.append(r);
    };
    if (ui.colour === "type") {
      head("type (click to hide)");
      const counts = D.types.map(() => 0);
      for (let i = 0; i < N; i++) counts[TYPE[i]]++;
      D.types.forEach((t, k) => row(typeColour[k], t.replace("_", " "), counts[k], !ui.typesOn[k], () => { ui.typesOn[k] = !ui.typesOn[k]; refresh(false); }));
    } else {
      head("state");
      D.states.forEach((st, k) => { if (stateCounts[k]) row(stateColour[k], st, stateCounts[k], !ui.statesOn[k], null); });
    }
    const sep = document.createElement("div"); sep.className = "sep"; box.append(sep);
    head("marks");
    const mark = (svg, label) => {
      const r = document.createElement("div"); r.className = "row";
      r.insertAdjacentHTML("afterbegin", svg);  // fixed markup, no data
      const l = document.createElement("span"); l.textContent = label; r.append(l); box.append(r);
    };
    mark('<svg width="22" height="10"><line x1="1" y1="5" x2="21" y2="5" stroke="#adbac7" stroke-width="2"/></svg>', "link (thicker = more similar)");
    mark('<svg width="22" height="10"><line x1="1" y1="5" x2="15" y2="5" stroke="#f2cc60" stroke-width="1.6" stroke-dasharray="4 2"/><path d="M15 1 L21 5 L15 9 Z" fill="#f2cc60"/></svg>', "merged into (lineage)");
    mark('<svg width="22" height="14"><circle cx="11" cy="7" r="6" fill="rgba(163,113,247,.2)" stroke="#a371f7" stroke-dasharray="2 2"/></svg>', "cluster ready to consolidate");
    mark('<svg width="22" height="14"><circle cx="11" cy="7" r="4" fill="#56d364" stroke="#e6edf3" stroke-width="1.5"/></svg>', "proven (ring)");
    mark('<svg width="22" height="14"><circle cx="11" cy="7" r="4" fill="#58a6ff" stroke="#ff9f43" stroke-width="1.5" stroke-dasharray="2 1.5"/></svg>', `fading (≤ ${FADE_SOON} memories left)`);
    mark('<svg width="22" height="14"><circle cx="11" cy="7" r="4" fill="#8b949e" opacity=".45"/></svg>', "superseded / expired (faint)");
    if (CODE.some((c) => c)) mark('<svg width="22" height="14"><circle cx="11" cy="7" r="4" fill="#58a6ff" stroke="#f85149" stroke-width="1.5"/></svg>', "its code changed since (may be out of date)");
  }

  function status() {
    const el = $("status");
    el.replaceChildren();
    const part = (n, label) => { const b = document.createElement("b"); b.textContent = n.toLocaleString("en-US"); el.append(b, document.createTextNode(` ${label}   `)); };
    part(N, "memories");
    part(LINKS.length, "links");
    part(D.clusters.length, "clusters");
    part(D.consolidations.length, "consolidations");
    part(Number(body.dataset.visibleNodes), "shown");
    if (ui.query.trim()) part(matches.length, matches.length ? "matches (Enter goes through them)" : "matches");
    el.append(document.createTextNode("·  scroll to zoom, drag to pan, click a memory for its full text"));
    body.dataset.matches = matches.length;
  }

  function writeHash() {
    const p = new URLSearchParams();
    if (ui.query) p.set("q", ui.query);
    if (ui.project >= 0) p.set("project", D.projects[ui.project].name);
    if (ui.colour !== "type") p.set("colour", ui.colour);
    if (ui.size !== "links") p.set("size", ui.size);
    if (ui.fadingOnly) p.set("fading", "1");
    if (ui.from) p.set("from", ui.from);
    if (ui.to) p.set("to", ui.to);
    if (ui.selected >= 0) p.set("id", String(IDS[ui.selected]));
    const hash = p.toString();
    try { history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search); } catch (e) { /* file: URLs in some browsers */ }
  }

  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    if (p.get("q")) { ui.query = p.get("q"); search.value = ui.query; }
    const project = p.get("project");
    if (project) {
      const k = D.projects.findIndex((x) => x.name === project || x.key === project);
      if (k >= 0) { ui.project = k; projectSelect.value = String(k); }
    }
    const states = p.get("state");
    if (states) {
      const on = states.split(",");
      ui.statesOn = D.states.map((s) => on.includes(s));
      for (const chip of chips.children) chip.setAttribute("aria-pressed", String(on.includes(chip.dataset.state)));
    }
    if (p.get("colour") === "state") { ui.colour = "state"; $("colour").value = "state"; }
    if (p.get("size") === "recalls") { ui.size = "recalls"; $("size").value = "recalls"; R = R_RECALLS; }
    if (p.get("fading") === "1") { ui.fadingOnly = true; $("fading").checked = true; }
    for (const name of ["from", "to"]) {
      const value = p.get(name);
      if (value && /^\d{4}-\d{2}-\d{2}$/.test(value)) { ui[name] = value; $(name).value = value; }
    }
    return p.get("id");
  }

  function refresh(refit) {
    updateVisible();
    updateSearch();
    legend();
    if (refit) fit(visibleIndexes());
    status();
    writeHash();
    redraw();
  }

  // -- start ------------------------------------------------------------------------------------
  resize();
  const wanted = readHash();
  computeHalos();
  updateVisible();
  updateSearch();
  legend();
  fit(visibleIndexes());
  status();
  draw();
  if (wanted && byId.has(Number(wanted))) select(byId.get(Number(wanted)), true);
  body.dataset.readyMs = performance.now().toFixed(1);
  requestAnimationFrame(() => requestAnimationFrame(() => { body.dataset.paintedMs = performance.now().toFixed(1); }));
})();
