// The overview: a tile per camera, kept current without a reload. Any message about a
// camera (an accepted upload, its event opened, assessed or closed, an alert, a status
// change) re-fetches that camera's tile; an alert message also re-fetches the summary (the
// household mode and the open alerts count). Bursts are folded into one fetch per tile.
(function () {
  "use strict";
  const pending = {};
  const DELAY_MS = 150;

  function fragment(url, apply) {
    homesecLive.fetchPart(url)
      .then(function (response) { return response && response.text(); })
      .then(function (html) { if (html) apply(html); });
  }

  function replaceWith(element, html) {
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const fresh = holder.firstElementChild;
    if (!fresh) return;
    element.replaceWith(fresh);
  }

  function refreshTile(camera) {
    if (pending[camera]) return;
    pending[camera] = setTimeout(function () {
      delete pending[camera];
      fragment("/cameras/" + encodeURIComponent(camera) + "/tile", function (html) {
        const tile = document.getElementById("tile-" + camera);
        if (tile) { replaceWith(tile, html); return; }
        const tiles = document.querySelector(".tiles");
        if (tiles) { tiles.insertAdjacentHTML("beforeend", html); } else { location.reload(); }
      });
    }, DELAY_MS);
  }

  function refreshSummary() {
    if (pending.__summary) return;
    pending.__summary = setTimeout(function () {
      delete pending.__summary;
      fragment("/overview/summary", function (html) {
        const summary = document.getElementById("summary");
        if (summary) summary.innerHTML = html;
      });
    }, DELAY_MS);
  }

  function tileOfEvent(eventId) {
    const tile = document.querySelector('.tile[data-event="' + String(eventId) + '"]');
    return tile ? tile.dataset.camera : null;
  }

  homesecLive.subscribe("events", function (message) {
    if (message.type !== "message") return;
    const data = message.data || {};
    const kind = message.kind || "";
    const camera = data.camera || (data.event ? tileOfEvent(data.event) : null);
    if (camera) refreshTile(camera);
    if (kind.indexOf("alert.") === 0) refreshSummary();
  });

  // Statuses and "last upload" age with the clock, not only with messages: a wall tablet
  // left open for days stays right even for a camera that went quiet.
  setInterval(function () {
    document.querySelectorAll(".tile").forEach(function (tile) { refreshTile(tile.dataset.camera); });
    refreshSummary();
  }, 60000);

  // A picture that cannot be shown (its file was removed) gives way to the placeholder.
  document.addEventListener("error", function (event) {
    const img = event.target;
    if (!(img instanceof HTMLImageElement) || !img.closest(".tile")) return;
    const note = document.createElement("span");
    note.className = "no-image";
    note.textContent = "No image";
    img.replaceWith(note);
  }, true);
})();
