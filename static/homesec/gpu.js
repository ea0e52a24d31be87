// The System page's GPU card: each device's last 24 hours drawn with uPlot (utilisation and
// memory in percent, with axes and values on hover) in place of the sparkline the server
// draws, from the history the card renders into the page.
(function () {
  "use strict";
  const data = document.getElementById("gpu-history-data");
  if (!data || typeof uPlot === "undefined") return;
  const history = JSON.parse(data.textContent);
  const css = getComputedStyle(document.documentElement);
  function cssVar(name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; }
  function width(box) { return Math.max(200, Math.floor(box.clientWidth)); }
  function percent(u, v) { return v == null ? "—" : v.toFixed(0) + " %"; }
  const HEIGHT = 120;
  const plots = [];

  history.devices.forEach(function (device) {
    const box = document.querySelector('[data-gpu="' + device.index + '"] .gpu-chart');
    if (!box) return;
    const total = Number(box.dataset.memoryTotal) || 0;
    const memory = device.memory_used_bytes.map(function (v) {
      return v == null || !total ? null : Math.round(1000 * v / total) / 10;
    });
    const grid = {stroke: cssVar("--line", "#2d3946"), width: 1};
    const axis = {stroke: cssVar("--muted", "#8a96a3"), grid: grid, ticks: grid};
    const opts = {
      width: width(box),
      height: HEIGHT,
      scales: {x: {time: true}, y: {range: [0, 100]}},
      axes: [axis, Object.assign({}, axis, {
        size: 50,
        splits: function () { return [0, 50, 100]; },
        values: function (u, ticks) { return ticks.map(function (t) { return t + " %"; }); },
      })],
      series: [
        {},
        {label: "utilisation", stroke: cssVar("--ok", "#4cd18a"), width: 1.5, value: percent},
        {label: "memory", stroke: cssVar("--warn", "#f5c451"), width: 1.5, value: percent},
      ],
    };
    box.replaceChildren();
    plots.push({box: box, plot: new uPlot(opts, [history.t, device.utilization_pct, memory], box)});
  });

  window.addEventListener("resize", function () {
    plots.forEach(function (p) { p.plot.setSize({width: width(p.box), height: HEIGHT}); });
  });
})();
