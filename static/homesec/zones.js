// The zone editor (admins): an SVG with viewBox "0 0 1 1" stretched over the latest image,
// so every point is already in the 0-1 frame coordinates that Zone.polygon stores. Click or
// tap on the picture to add a point (past three, it goes into the nearest edge), drag a point
// to move it (pointer events: mouse, pen and touch alike), select a point and press "Delete
// point" (or Delete / Backspace, or press it twice quickly) to remove it. Other zones show
// dimmed; "Edit" in the zones table loads one. The form posts the points as JSON; the
// server validates and saves them.
(function () {
  "use strict";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const RADIUS_PX = 9;
  const HIT_PX = 20;

  const svg = document.getElementById("zone-svg");
  const form = document.getElementById("zone-form");
  if (!svg || !form) return;
  const zones = JSON.parse(document.getElementById("zones-data").textContent);
  const fields = {
    id: form.elements.zone,
    polygon: form.elements.polygon,
    name: form.elements.name,
    kind: form.elements.kind,
    enabled: form.elements.enabled,
  };
  const deleteButton = document.getElementById("zone-delete-point");
  const status = document.getElementById("zone-status");

  let points = [];
  let selected = -1;
  let drag = null;  // {index, pointerId}

  function round(value) { return Math.round(Math.min(1, Math.max(0, value)) * 10000) / 10000; }

  function position(event) {
    const box = svg.getBoundingClientRect();
    return [round((event.clientX - box.left) / box.width), round((event.clientY - box.top) / box.height)];
  }

  function distance(a, b) { return Math.hypot(a[0] - b[0], a[1] - b[1]); }

  // Where a new point goes: at the end until there is a polygon, then into the edge whose
  // detour through it is shortest (what people mean when they click beside an edge).
  function insertAt(point) {
    if (points.length < 3) return points.length;
    let best = points.length, cost = Infinity;
    for (let i = 0; i < points.length; i++) {
      const a = points[i], b = points[(i + 1) % points.length];
      const extra = distance(a, point) + distance(point, b) - distance(a, b);
      if (extra < cost) { cost = extra; best = i + 1; }
    }
    return best;
  }

  function el(name, attrs) {
    const node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }

  function sync() {
    fields.polygon.value = points.length ? JSON.stringify(points) : "";
    deleteButton.disabled = selected < 0;
    const count = points.length;
    status.textContent = count === 0 ? "No points yet." : count + " point" + (count === 1 ? "" : "s") +
      (count < 3 ? ": a zone needs at least three." : ".");
  }

  function render() {
    svg.replaceChildren();
    const box = svg.getBoundingClientRect();
    const rx = box.width ? RADIUS_PX / box.width : 0.015, ry = box.height ? RADIUS_PX / box.height : 0.015;
    const hx = box.width ? HIT_PX / box.width : 0.03, hy = box.height ? HIT_PX / box.height : 0.03;
    const current = fields.id.value ? Number(fields.id.value) : null;
    zones.forEach(function (zone) {
      if (zone.id === current) return;
      const shape = el("polygon", {
        class: "zone other kind-" + zone.kind + (zone.enabled ? "" : " off"),
        "data-zone": zone.id,
        "vector-effect": "non-scaling-stroke",
        points: zone.polygon.map(function (p) { return p.join(","); }).join(" "),
      });
      const title = el("title", {});
      title.textContent = zone.name;
      shape.appendChild(title);
      svg.appendChild(shape);
    });
    if (points.length) {
      svg.appendChild(el("polygon", {
        class: "zone current",
        "vector-effect": "non-scaling-stroke",
        points: points.map(function (p) { return p.join(","); }).join(" "),
      }));
    }
    points.forEach(function (p, index) {
      const group = el("g", {class: "vertex", "data-index": index});
      group.appendChild(el("ellipse", {class: "handle-hit", cx: p[0], cy: p[1], rx: hx, ry: hy}));
      group.appendChild(el("ellipse", {
        class: "handle" + (index === selected ? " selected" : ""),
        cx: p[0], cy: p[1], rx: rx, ry: ry, "vector-effect": "non-scaling-stroke",
      }));
      svg.appendChild(group);
    });
    sync();
  }

  function load(zone) {
    fields.id.value = zone ? zone.id : "";
    fields.name.value = zone ? zone.name : "";
    fields.kind.value = zone ? zone.kind : "other";
    fields.enabled.checked = zone ? zone.enabled : true;
    points = zone ? zone.polygon.map(function (p) { return [p[0], p[1]]; }) : [];
    selected = -1;
    document.querySelectorAll(".zone-label").forEach(function (label) {
      label.classList.toggle("editing", Boolean(zone) && Number(label.dataset.zone) === zone.id);
    });
    render();
  }

  function vertexOf(target) {
    const group = target.closest ? target.closest(".vertex") : null;
    return group ? Number(group.dataset.index) : -1;
  }

  let lastPress = {index: -1, at: 0};
  // A press on a point is followed by a click (on the SVG, which holds the pointer): that
  // one click adds no point.
  let swallowClickUntil = 0;

  svg.addEventListener("pointerdown", function (event) {
    const index = vertexOf(event.target);
    if (index < 0) {
      swallowClickUntil = 0;
      return;
    }
    event.preventDefault();
    const now = Date.now();
    swallowClickUntil = now + 60000;  // until its pointerup says how long
    if (lastPress.index === index && now - lastPress.at < 400) {  // a double press removes it
      lastPress = {index: -1, at: 0};
      swallowClickUntil = now + 400;
      removePoint(index);
      return;
    }
    lastPress = {index: index, at: now};
    selected = index;
    drag = {index: index, pointerId: event.pointerId};
    svg.setPointerCapture(event.pointerId);
    render();
  });

  svg.addEventListener("pointermove", function (event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    event.preventDefault();
    points[drag.index] = position(event);
    render();
  });

  function endDrag(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    if (svg.hasPointerCapture(event.pointerId)) svg.releasePointerCapture(event.pointerId);
    swallowClickUntil = Date.now() + 400;
    drag = null;
  }
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);

  svg.addEventListener("click", function (event) {
    if (Date.now() < swallowClickUntil || vertexOf(event.target) >= 0) {
      swallowClickUntil = 0;
      return;
    }
    const point = position(event);
    const at = insertAt(point);
    points.splice(at, 0, point);
    selected = at;
    render();
  });

  function removePoint(index) {
    if (index < 0 || index >= points.length) return;
    points.splice(index, 1);
    selected = Math.min(index, points.length - 1);
    render();
  }

  deleteButton.addEventListener("click", function () { removePoint(selected); });
  document.getElementById("zone-clear").addEventListener("click", function () { points = []; selected = -1; render(); });
  document.getElementById("zone-new").addEventListener("click", function () { load(null); fields.name.focus(); });

  document.addEventListener("keydown", function (event) {
    if (selected < 0 || (event.key !== "Delete" && event.key !== "Backspace")) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") return;
    event.preventDefault();
    removePoint(selected);
  });

  document.querySelectorAll("[data-edit-zone]").forEach(function (button) {
    button.addEventListener("click", function () {
      load(zones.find(function (zone) { return zone.id === Number(button.dataset.editZone); }));
      document.getElementById("zone-editor").scrollIntoView({block: "nearest"});
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (deleteForm) {
    deleteForm.addEventListener("submit", function (event) {
      if (!window.confirm(deleteForm.dataset.confirm)) event.preventDefault();
    });
  });

  // The handles are sized in pixels: redraw them when the picture's size changes.
  if (window.ResizeObserver) new ResizeObserver(function () { render(); }).observe(svg);
  const image = document.getElementById("zone-image");
  if (image && !image.complete) image.addEventListener("load", render);

  // After a refused save the form comes back with what was posted: edit it on.
  let posted = [];
  try { posted = fields.polygon.value ? JSON.parse(fields.polygon.value) : []; } catch (e) { posted = []; }
  points = Array.isArray(posted) ? posted.filter(function (p) { return Array.isArray(p) && p.length === 2; }) : [];
  document.querySelectorAll(".zone-label").forEach(function (label) {
    label.classList.toggle("editing", label.dataset.zone === fields.id.value);
  });
  render();
})();
