// The timeline: selection for the bulk review, and rows that appear or change live.
// "Mark all above" posts the ids the server wrote into the page when it rendered it, so an
// event inserted live afterwards is never part of it; ticked rows are posted as ticked.
(function () {
  "use strict";
  const list = document.getElementById("timeline");
  if (!list) return;
  const pickAll = document.getElementById("pick-all");
  const markSelected = document.getElementById("mark-selected");
  const note = document.getElementById("live-note");
  const filters = list.dataset.filters || "";
  const newest = list.dataset.newest === "1";
  const full = list.dataset.full === "1";
  let arrived = 0;

  function boxes() { return Array.from(list.querySelectorAll('input[name="ids"]')); }

  function refresh() {
    const all = boxes();
    const picked = all.filter(function (b) { return b.checked; }).length;
    markSelected.disabled = picked === 0;
    markSelected.textContent = picked ? "Mark " + picked + " selected reviewed" : "Mark selected reviewed";
    pickAll.checked = all.length > 0 && picked === all.length;
    pickAll.indeterminate = picked > 0 && picked < all.length;
  }

  list.addEventListener("change", function (e) { if (e.target.name === "ids") refresh(); });
  pickAll.addEventListener("change", function () {
    boxes().forEach(function (b) { b.checked = pickAll.checked; });
    refresh();
  });

  function rowUrl(id) {
    return list.dataset.rowUrl.replace(/\/0\/row$/, "/" + id + "/row") + (filters ? "?" + filters : "");
  }
  function keyOf(li) { return li.dataset.key.split("_").map(Number); }
  function newerThan(a, b) { return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]); }

  function place(id, html, matches, mayInsert) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const fresh = template.content.firstElementChild;
    if (!fresh) return;
    const current = document.getElementById("event-" + id);
    if (current) {
      const was = current.querySelector('input[name="ids"]');
      const now = fresh.querySelector('input[name="ids"]');
      if (was && now) now.checked = was.checked;
      if (!current.classList.contains("live")) fresh.classList.remove("live");  // rendered with the page
      fresh.classList.toggle("stale", !matches);  // no longer what the filters ask for
      current.replaceWith(fresh);
      refresh();
      return;
    }
    if (!matches || !mayInsert) return;
    const key = keyOf(fresh);
    const before = Array.from(list.querySelectorAll(".event-row")).find(function (li) {
      return newerThan(key, keyOf(li));
    });
    if (!before && full) return;  // older than a full page's last row: it belongs to a later page
    const empty = document.getElementById("timeline-empty");
    if (empty) empty.remove();
    list.insertBefore(fresh, before || null);
    arrived += 1;
    note.hidden = false;
    note.textContent = arrived + (arrived === 1 ? " event" : " events") +
      " arrived since the page loaded (marked blue); \u201cMark all above\u201d covers only the ones it loaded with.";
    refresh();
  }

  const pending = new Set();
  function load(id, mayInsert) {
    if (pending.has(id)) return;
    pending.add(id);
    homesecLive.fetchPart(rowUrl(id))
      .then(function (response) {
        if (!response) return null;
        const matches = response.headers.get("X-Timeline-Match") === "1";
        return response.text().then(function (html) { place(id, html, matches, mayInsert); });
      })
      .catch(function () {})
      .finally(function () { pending.delete(id); });
  }

  if (window.homesecLive) {
    window.homesecLive.subscribe("events", function (message) {
      if (message.type !== "message" || !message.data || !String(message.kind).startsWith("event.")) return;
      const ids = message.data.events || (message.data.event != null ? [message.data.event] : []);
      // New events join only the newest page; a review elsewhere only refreshes rows shown.
      const mayInsert = newest && message.kind !== "event.reviewed";
      ids.forEach(function (id) {
        if (mayInsert || document.getElementById("event-" + id)) load(id, mayInsert);
      });
    });
  }
  refresh();
})();
