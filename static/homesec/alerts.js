// The alerts page: "All" ticks every open alert; live messages (alert.*, camera.snoozed)
// fetch the part of the page they change again, keeping what was ticked.
(function () {
  "use strict";
  const timers = {};

  function ticked() {
    return Array.from(document.querySelectorAll("#alerts-open input[name=alert]:checked")).map(function (box) {
      return box.value;
    });
  }

  function refresh(part, delay) {
    const section = document.getElementById("alerts-" + part);
    if (!section) return;
    clearTimeout(timers[part]);
    timers[part] = setTimeout(function () {
      homesecLive.fetchPart(location.pathname + "?part=" + part)
        .then(function (response) { return response && response.text(); })
        .then(function (html) {
          if (!html) return;
          const keep = part === "open" ? ticked() : [];
          section.innerHTML = html;
          keep.forEach(function (id) {
            const box = section.querySelector("input[name=alert][value='" + id + "']");
            if (box) box.checked = true;
          });
        });
    }, delay || 200);
  }

  document.addEventListener("change", function (event) {
    const all = event.target.closest("[data-check-all]");
    if (!all) return;
    document.querySelectorAll("#alerts-open input[name=alert]").forEach(function (box) { box.checked = all.checked; });
  });

  if (window.homesecLive) {
    window.homesecLive.subscribe("events", function (message) {
      if (message.type !== "message") return;
      if (message.kind === "camera.snoozed") { refresh("snoozes"); return; }
      if (message.kind.indexOf("alert.") !== 0) return;
      refresh("open");
      if (message.kind === "alert.fired") {
        // Its notifications go out a moment later: show how they went.
        setTimeout(function () { refresh("open", 1); }, 4000);
      } else {
        const history = document.getElementById("alerts-history");
        if (history && history.dataset.live) refresh("history");
      }
    });
  }
})();
