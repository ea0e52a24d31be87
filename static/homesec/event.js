// An event's page: the filmstrip picks the picture shown, "play from here" seeks the clip,
// and the page refreshes its assessment, checks and review when the event changes live.
(function () {
  "use strict";
  const root = document.getElementById("event-page");
  if (!root) return;
  const eventId = Number(root.dataset.event);

  function shots() { return Array.from(document.querySelectorAll(".stage .shot")); }

  function show(id) {
    shots().forEach(function (f) { f.classList.toggle("current", f.id === id); });
    document.querySelectorAll(".filmstrip a").forEach(function (a) {
      if (a.dataset.shot === id) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
    });
  }

  document.addEventListener("click", function (e) {
    const strip = e.target.closest(".filmstrip a");
    if (strip) {
      e.preventDefault();
      show(strip.dataset.shot);
      history.replaceState(null, "", "#" + strip.dataset.shot);
      return;
    }
    const play = e.target.closest(".play-from");
    if (play) {
      const video = document.querySelector('video[data-ingest="' + play.dataset.ingest + '"]');
      if (!video) return;
      video.currentTime = Number(play.dataset.offset);
      video.scrollIntoView({block: "nearest"});
      video.play().catch(function () {});
    }
  });

  document.addEventListener("keydown", function (e) {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    if (e.target.closest("input, textarea, select, video, button")) return;
    const all = shots();
    const at = all.findIndex(function (f) { return f.classList.contains("current"); });
    const next = all[at + (e.key === "ArrowRight" ? 1 : -1)];
    if (next) show(next.id);
  });

  if (location.hash.indexOf("#shot-") === 0 && document.getElementById(location.hash.slice(1))) {
    show(location.hash.slice(1));
  }

  // Live: when this event is opened, assessed, closed or reviewed, take the fresh sections
  // from the page itself. The pictures are kept when their number is the same (the one
  // being looked at stays), and the review form when something was typed into it.
  let typed = false;
  const form = document.getElementById("review-form");
  if (form) form.addEventListener("input", function () { typed = true; });
  let timer = null;

  function reload() {
    homesecLive.fetchPart(location.pathname)
      .then(function (response) { return response && response.text(); })
      .then(function (html) {
        if (!html) return;
        const fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (section) {
          const replacement = fresh.getElementById(section.id);
          if (!replacement) return;
          if (section.id === "shots" && replacement.dataset.count === section.dataset.count) return;
          section.replaceWith(replacement);
        });
        const newForm = fresh.getElementById("review-form");
        const oldForm = document.getElementById("review-form");
        if (newForm && oldForm && !typed) {
          oldForm.replaceWith(newForm);
          newForm.addEventListener("input", function () { typed = true; });
        }
      })
      .catch(function () {});
  }

  if (window.homesecLive) {
    window.homesecLive.subscribe("events", function (message) {
      if (message.type !== "message" || !message.data) return;
      const ids = message.data.events || (message.data.event != null ? [message.data.event] : []);
      if (ids.indexOf(eventId) < 0) return;
      clearTimeout(timer);
      timer = setTimeout(reload, 150);
    });
  }
})();
