// The product map: every product of the active model drawn on one canvas (50,000 points stay
// smooth where 50,000 DOM nodes would not), with pan, zoom, hover and click, and the visitor's
// own path and session marker, refreshed every few seconds and whenever the tab comes back.
// The canvas carries the state in data-* attributes (points, path, marker) for tests and tools.
(function () {
  "use strict";
  const root = document.getElementById("space");
  if (!root) return;
  const canvas = root.querySelector("canvas");
  const tooltip = root.querySelector(".space__tooltip");
  const legend = document.getElementById("space-legend");
  const colourBy = document.getElementById("space-colour");
  const status = document.getElementById("space-status");
  const context = canvas.getContext("2d");
  const POLL_MS = 2500;
  const HOVER_PX = 8;
  const GRID = 64; // hover lookup: the map's [-1, 1] square in GRID x GRID cells
  const PALETTE = ["#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#6b46c1", "#b7791f", "#2c7a7b",
    "#d53f8c", "#4a5568", "#9c4221", "#276749", "#2a4365"];
  const OTHER = "#a0aec0";

  let points = [];
  let groups = new Map(); // group name -> colour
  let cells = new Map(); // "i,j" -> indexes of the points in that cell
  let session = { path: [], marker: null };
  let view = { scale: 1, x: 0, y: 0 }; // screen = centre + (world * half * scale) + offset
  // The canvas's size on the page, read when it is sized (start, window resize), not once per
  // point drawn: a layout read for each of 50,000 points made every pan and zoom slow.
  let box = { width: 0, height: 0 };
  let hovered = -1;
  let drag = null;
  let frame = 0;

  function size() {
    const ratio = window.devicePixelRatio || 1;
    box = canvas.getBoundingClientRect();
    canvas.width = Math.round(box.width * ratio);
    canvas.height = Math.round(box.height * ratio);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    redraw();
  }

  function half() {
    return Math.min(box.width, box.height) / 2 * 0.92;
  }

  function toScreen(x, y) {
    const h = half() * view.scale;
    return [box.width / 2 + view.x + x * h, box.height / 2 + view.y - y * h];
  }

  function toWorld(sx, sy) {
    const h = half() * view.scale;
    return [(sx - box.width / 2 - view.x) / h, -(sy - box.height / 2 - view.y) / h];
  }

  // Colour by a handful of groups (the catalog's activity, or audience), never by its dozens of
  // categories: the legend names each group's categories, as the tooltip does each point's.
  function groupOf(point) {
    const by = colourBy ? colourBy.value : "target";
    return (by === "activity" ? point.activity || point.category : point.target) || "(none)";
  }

  function colour() {
    const counts = new Map();
    const categories = new Map(); // group -> category -> count
    for (const point of points) {
      const group = groupOf(point);
      counts.set(group, (counts.get(group) || 0) + 1);
      if (!categories.has(group)) categories.set(group, new Map());
      const inGroup = categories.get(group);
      inGroup.set(point.category, (inGroup.get(point.category) || 0) + 1);
    }
    let ordered = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    // Past the palette, colours stop telling groups apart: the smallest share one grey.
    const shown = new Set(ordered.slice(0, PALETTE.length - 1).map(([name]) => name));
    if (ordered.length === PALETTE.length) shown.add(ordered[PALETTE.length - 1][0]);
    const rest = ordered.filter(([name]) => !shown.has(name));
    groups = new Map(ordered.map(([name], i) => [name, shown.has(name) ? PALETTE[i] : OTHER]));
    for (const point of points) point.colour = groups.get(groupOf(point));
    ordered = ordered.filter(([name]) => shown.has(name));
    const items = ordered.map(([name, count]) => legendItem(
      groups.get(name), `${name} (${count.toLocaleString()})`, [...categories.get(name).keys()]));
    if (rest.length) {
      const count = rest.reduce((sum, [, n]) => sum + n, 0);
      items.push(legendItem(OTHER, `${rest.length} more (${count.toLocaleString()})`,
        rest.map(([name]) => name)));
    }
    legend.replaceChildren(...items);
    canvas.dataset.groups = String(items.length);
    redraw();
  }

  function legendItem(swatchColour, label, members) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "space-legend__swatch";
    swatch.style.background = swatchColour;
    item.append(swatch, label);
    item.title = members.filter(Boolean).sort().join(", ");
    return item;
  }

  function index() {
    cells = new Map();
    points.forEach((point, i) => {
      const key = cellOf(point.x, point.y).join(",");
      if (!cells.has(key)) cells.set(key, []);
      cells.get(key).push(i);
    });
  }

  function cellOf(x, y) {
    const clamp = (v) => Math.max(0, Math.min(GRID - 1, Math.floor((v + 1) / 2 * GRID)));
    return [clamp(x), clamp(y)];
  }

  function nearest(sx, sy) {
    const [wx, wy] = toWorld(sx, sy);
    const reach = HOVER_PX / (half() * view.scale); // in world units
    const [i0, j0] = cellOf(wx - reach, wy - reach);
    const [i1, j1] = cellOf(wx + reach, wy + reach);
    let best = -1;
    let bestDistance = reach * reach;
    for (let i = i0; i <= i1; i++) {
      for (let j = j0; j <= j1; j++) {
        for (const k of cells.get(`${i},${j}`) || []) {
          const dx = points[k].x - wx;
          const dy = points[k].y - wy;
          const distance = dx * dx + dy * dy;
          if (distance <= bestDistance) { best = k; bestDistance = distance; }
        }
      }
    }
    return best;
  }

  function redraw() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function draw() {
    frame = 0;
    context.clearRect(0, 0, box.width, box.height);
    const dot = Math.max(1.5, Math.min(5, 2 * Math.sqrt(view.scale) * (points.length > 20000 ? 0.7 : 1.2)));
    for (const point of points) {
      const [sx, sy] = toScreen(point.x, point.y);
      if (sx < -dot || sy < -dot || sx > box.width + dot || sy > box.height + dot) continue;
      context.fillStyle = point.colour;
      context.fillRect(sx - dot / 2, sy - dot / 2, dot, dot);
    }
    drawPath();
    if (hovered >= 0) {
      const [sx, sy] = toScreen(points[hovered].x, points[hovered].y);
      context.strokeStyle = "#1a202c";
      context.lineWidth = 2;
      context.beginPath();
      context.arc(sx, sy, 6, 0, 2 * Math.PI);
      context.stroke();
    }
  }

  // Steps of the path closer than a marker's width share one marker, labelled with every step
  // ("1-3", "2, 5"), so that no step hides under a later one; drawn last, above every dot.
  const MARKER_PX = 9;

  function pathMarkers() {
    const markers = [];
    session.path.forEach((step, i) => {
      const [sx, sy] = toScreen(step.x, step.y);
      const near = markers.find((m) => Math.hypot(m.sx - sx, m.sy - sy) < MARKER_PX * 2);
      if (near) near.steps.push(i + 1); else markers.push({ sx, sy, steps: [i + 1] });
    });
    for (const marker of markers) marker.label = stepsLabel(marker.steps);
    return markers;
  }

  function stepsLabel(steps) {
    const runs = [];
    for (const step of steps) {
      const last = runs[runs.length - 1];
      if (last && step === last[1] + 1) last[1] = step; else runs.push([step, step]);
    }
    return runs.map(([a, b]) => (a === b ? `${a}` : b === a + 1 ? `${a}, ${b}` : `${a}-${b}`)).join(", ");
  }

  function drawPath() {
    const path = session.path;
    if (path.length) {
      context.strokeStyle = "rgba(26, 32, 44, 0.75)";
      context.lineWidth = 2;
      context.beginPath();
      path.forEach((step, i) => {
        const [sx, sy] = toScreen(step.x, step.y);
        if (i === 0) context.moveTo(sx, sy); else context.lineTo(sx, sy);
      });
      context.stroke();
    }
    if (session.marker) {
      const [sx, sy] = toScreen(session.marker.x, session.marker.y);
      context.fillStyle = "rgba(229, 62, 62, 0.25)";
      context.beginPath();
      context.arc(sx, sy, 18, 0, 2 * Math.PI);
      context.fill();
      context.fillStyle = "#e53e3e";
      context.strokeStyle = "#ffffff";
      context.lineWidth = 2;
      context.beginPath();
      context.arc(sx, sy, 7, 0, 2 * Math.PI);
      context.fill();
      context.stroke();
    }
    context.font = "bold 11px system-ui, sans-serif";
    context.textAlign = "center";
    context.textBaseline = "middle";
    const markers = pathMarkers();
    for (const { sx, sy, label } of markers) {
      const width = Math.max(2 * MARKER_PX, context.measureText(label).width + 10);
      context.fillStyle = "#ffffff";
      context.strokeStyle = "#1a202c";
      context.lineWidth = 2;
      context.beginPath();
      context.roundRect(sx - width / 2, sy - MARKER_PX, width, 2 * MARKER_PX, MARKER_PX);
      context.fill();
      context.stroke();
      context.fillStyle = "#1a202c";
      context.fillText(label, sx, sy + 0.5);
    }
    canvas.dataset.pathLabels = markers.map((marker) => marker.label).join(" | ");
  }

  function showTooltip(i, sx, sy) {
    if (i < 0) { tooltip.hidden = true; return; }
    const point = points[i];
    tooltip.querySelector("img").src = point.image;
    tooltip.querySelector("img").alt = point.name;
    tooltip.querySelector(".space__tooltip-name").textContent = point.name;
    tooltip.querySelector(".space__tooltip-meta").textContent =
      [point.target, point.category, point.sku].filter(Boolean).join(" · ");
    tooltip.hidden = false;
    const box = canvas.getBoundingClientRect();
    tooltip.style.left = `${Math.min(sx + 14, box.width - tooltip.offsetWidth - 4)}px`;
    tooltip.style.top = `${Math.min(sy + 14, box.height - tooltip.offsetHeight - 4)}px`;
  }

  function local(event) {
    const box = canvas.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  }

  canvas.addEventListener("pointerdown", (event) => {
    const [sx, sy] = local(event);
    drag = { sx, sy, x: view.x, y: view.y, moved: false };
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    const [sx, sy] = local(event);
    if (drag) {
      if (Math.abs(sx - drag.sx) + Math.abs(sy - drag.sy) > 3) drag.moved = true;
      view.x = drag.x + sx - drag.sx;
      view.y = drag.y + sy - drag.sy;
      redraw();
      return;
    }
    const found = nearest(sx, sy);
    if (found !== hovered) { hovered = found; redraw(); }
    canvas.style.cursor = found >= 0 ? "pointer" : "grab";
    showTooltip(found, sx, sy);
  });
  canvas.addEventListener("pointerup", (event) => {
    const [sx, sy] = local(event);
    const wasDrag = drag && drag.moved;
    drag = null;
    if (!wasDrag) {
      const found = nearest(sx, sy);
      if (found >= 0) window.location.href = points[found].url;
    }
  });
  canvas.addEventListener("pointerleave", () => { hovered = -1; tooltip.hidden = true; redraw(); });
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [sx, sy] = local(event);
    const [wx, wy] = toWorld(sx, sy);
    view.scale = Math.max(0.5, Math.min(200, view.scale * Math.exp(-event.deltaY * 0.0015)));
    const [nx, ny] = toScreen(wx, wy); // keep the point under the cursor where it was
    view.x += sx - nx;
    view.y += sy - ny;
    redraw();
  }, { passive: false });
  document.getElementById("space-reset").addEventListener("click", () => {
    view = { scale: 1, x: 0, y: 0 };
    redraw();
  });
  if (colourBy) colourBy.addEventListener("change", colour);
  window.addEventListener("resize", size);

  async function loadPoints() {
    const started = performance.now();
    const response = await fetch(root.dataset.pointsUrl, { credentials: "same-origin" });
    const answer = await response.json();
    if (!response.ok) throw new Error((answer.error && answer.error.message) || response.statusText);
    const productUrl = root.dataset.productUrl;
    points = answer.points.map((point) => ({
      ...point, url: productUrl.replace("SKU", encodeURIComponent(point.sku)),
    }));
    index();
    colour();
    if (frame) { cancelAnimationFrame(frame); frame = 0; }
    draw(); // drawn now, so the time below includes the first draw of every point
    const seconds = (performance.now() - started) / 1000;
    canvas.dataset.points = String(points.length);
    canvas.dataset.loadSeconds = seconds.toFixed(3);
    status.textContent = `${points.length.toLocaleString()} products of model v${answer.version}, ` +
      `loaded in ${seconds.toFixed(2)} s. Scroll to zoom, drag to pan, click a point to open it.`;
  }

  async function loadSession() {
    try {
      const response = await fetch(root.dataset.sessionUrl, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return;
      session = await response.json();
      canvas.dataset.path = String(session.path.length);
      canvas.dataset.markerX = session.marker ? session.marker.x.toFixed(5) : "";
      canvas.dataset.markerY = session.marker ? session.marker.y.toFixed(5) : "";
      const said = document.getElementById("space-session");
      said.textContent = session.path.length
        ? `Your session: ${session.path.length} product${session.path.length === 1 ? "" : "s"} viewed (numbered in order); the red dot is your session vector.`
        : "Browse a few products: your path and your session vector will appear here.";
      redraw();
    } catch (error) {
      // A failed poll keeps the last path; the next one tries again.
    }
  }

  size();
  loadPoints().then(loadSession).catch((error) => {
    status.textContent = `The map could not be loaded: ${error.message}`;
  });
  setInterval(() => { if (!document.hidden) loadSession(); }, POLL_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) loadSession(); });
  window.addEventListener("focus", loadSession);
})();
