// The System page: uPlot charts over the last 24 hours (data rendered into the page, then
// refetched every minute and shortly after new events) and the numbers the /ws/system
// health push carries every few seconds (readiness, queue depths, dead letters, processes).
(function () {
  "use strict";
  const script = document.getElementById("system-script");
  const chartsUrl = script.dataset.chartsUrl;
  const REFRESH_MS = 60000;
  const EVENT_DELAY_MS = 3000;

  const css = getComputedStyle(document.documentElement);
  function cssVar(name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; }
  const PALETTE = ["#4da3ff", "#f5c451", "#4cd18a", "#ff9f43", "#c08cff", "#ff6b6b", "#5ee0e0", "#e0a0d0", "#b0c060"];
  function seriesColor(kind, name, index) {
    if (kind === "events") {
      if (name === "unassessed") return cssVar("--muted", "#8a96a3");
      const level = cssVar("--" + name, "");
      if (level) return level;
    }
    return PALETTE[index % PALETTE.length];
  }

  const charts = {};  // kind -> {plot, names}

  function chartWidth(box) { return Math.max(200, Math.floor(box.clientWidth)); }

  // Stacked bars: series i is drawn as the sum of series 0..i, the tallest first, so each
  // lower band is painted over the one above it. The legend shows each series' own count.
  function stacked(chart) {
    const sums = chart.hours.map(function () { return 0; });
    const bands = chart.series.map(function (s) {
      return s.values.map(function (v, i) { sums[i] += v; return sums[i]; });
    });
    return [chart.hours].concat(bands.reverse());
  }

  function draw(kind, chart) {
    const box = document.getElementById("chart-" + kind);
    if (!box || typeof uPlot === "undefined") return;
    const names = chart.series.map(function (s) { return s.name; }).join("|");
    const existing = charts[kind];
    if (existing && existing.names === names) {
      existing.chart = chart;
      existing.plot.setData(stacked(chart));
      return;
    }
    if (existing) existing.plot.destroy();
    box.replaceChildren();
    const grid = {stroke: cssVar("--line", "#2d3946"), width: 1};
    const axis = {stroke: cssVar("--muted", "#8a96a3"), grid: grid, ticks: grid};
    const entry = {chart: chart, names: names, plot: null};
    // Each bar fills its hour: from the hour's start (align 1) to the next hour.
    const bars = uPlot.paths.bars({size: [0.85, 40], gap: 1, align: 1});
    const ordered = chart.series.map(function (s, i) { return {name: s.name, index: i}; }).reverse();
    const opts = {
      width: chartWidth(box),
      height: 220,
      scales: {x: {time: true, range: function (u, min, max) { return [min, max + 3600]; }}, y: {range: function (u, min, max) { return [0, Math.max(4, Math.ceil(max * 1.1))]; }}},
      axes: [axis, Object.assign({}, axis, {size: 40})],
      legend: {live: true},
      cursor: {points: {show: false}},
      series: [{}].concat(ordered.map(function (s) {
        const color = seriesColor(kind, s.name, s.index);
        return {
          label: s.name, stroke: color, fill: color, width: 0, paths: bars, points: {show: false},
          value: function (u, v, si, idx) {
            return idx == null ? "—" : String(entry.chart.series[s.index].values[idx]);
          },
        };
      })),
    };
    entry.plot = new uPlot(opts, stacked(chart), box);
    charts[kind] = entry;
    if (!chart.series.length) {
      const empty = document.createElement("p");
      empty.className = "muted small";
      empty.textContent = kind === "events" ? "No events in the last 24 hours." : "No detections in the last 24 hours.";
      box.appendChild(empty);
    }
  }

  function drawAll(data) {
    draw("events", data.events);
    draw("detections", data.detections);
  }

  let refetchTimer = null;
  function refetch() {
    refetchTimer = null;
    homesecLive.fetchPart(chartsUrl, "application/json")
      .then(function (response) { return response && response.json(); })
      .then(function (data) { if (data) drawAll(data); })
      .catch(function (e) { console.warn("could not draw the charts", e); });
  }
  function refetchSoon() {
    if (refetchTimer === null) refetchTimer = setTimeout(refetch, EVENT_DELAY_MS);
  }

  function resize() {
    Object.keys(charts).forEach(function (kind) {
      const box = document.getElementById("chart-" + kind);
      charts[kind].plot.setSize({width: chartWidth(box), height: 220});
    });
  }

  // --- numbers from the health push ---------------------------------------------------------
  function text(el, value) { if (el && el.textContent !== String(value)) el.textContent = String(value); }

  function showReadiness(health) {
    const verdict = document.getElementById("ready-verdict");
    verdict.className = "verdict " + (health.ready ? "ok" : "bad");
    text(verdict, health.ready ? "Ready" : "Not ready: " + health.not_ready.join(", "));
    const list = document.getElementById("ready-checks");
    list.replaceChildren.apply(list, Object.entries(health.checks).map(function (entry) {
      const li = document.createElement("li");
      li.className = entry[1].ok ? "ok" : "bad";
      li.dataset.check = entry[0];
      const name = document.createElement("span");
      name.className = "check-name";
      name.textContent = entry[0];
      li.append(name, " " + (entry[1].ok ? "ok" : (entry[1].error || "not ready")));
      return li;
    }));
    const disk = health.checks.disk;
    if (disk && disk.free_gb !== undefined) {
      const free = document.getElementById("disk-free");
      text(free, disk.free_gb + " GB");
      free.classList.toggle("bad", !disk.ok);
      document.getElementById("disk-meter").value = disk.free_gb;
    }
  }

  function showQueues(queues) {
    let total = 0;
    Object.entries(queues).forEach(function (stage) {
      Object.entries(stage[1]).forEach(function (state) {
        total += state[1];
        text(document.querySelector('[data-queue="' + stage[0] + "." + state[0] + '"]'), state[1]);
      });
    });
    text(document.getElementById("queue-total"), total);
  }

  function showHeartbeats(beats) {
    const body = document.getElementById("heartbeat-rows");
    if (!beats.length) return;
    body.replaceChildren.apply(body, beats.map(function (beat) {
      const tr = document.createElement("tr");
      tr.dataset.heartbeat = beat.name;
      if (beat.stale) tr.className = "stale";
      const cells = [beat.role, beat.name, String(beat.pid), beat.age_s + " s ago"].map(function (value) {
        const td = document.createElement("td");
        td.textContent = value;
        return td;
      });
      cells[1].className = "break";
      if (beat.problem) {
        const problem = document.createElement("span");
        problem.className = "bad small";
        problem.textContent = beat.problem;
        cells[1].append(" ", problem);
      }
      if (beat.stale) {
        const badge = document.createElement("span");
        badge.className = "badge error";
        badge.textContent = "stale";
        cells[3].append(" ", badge);
      }
      tr.append.apply(tr, cells);
      return tr;
    }));
  }

  function onHealth(health) {
    showReadiness(health);
    if (health.queues) showQueues(health.queues);
    if (health.dead_letters !== undefined) {
      const count = document.getElementById("dead-letter-count");
      text(count, health.dead_letters);
      count.classList.toggle("bad", health.dead_letters > 0);
    }
    if (health.heartbeats) showHeartbeats(health.heartbeats);
  }

  drawAll(JSON.parse(document.getElementById("system-charts-data").textContent));
  window.addEventListener("resize", resize);
  setInterval(refetch, REFRESH_MS);
  if (window.homesecLive) {
    homesecLive.subscribe("system", function (message) {
      if (message.type === "health" && message.data) onHealth(message.data);
    });
    homesecLive.subscribe("events", function (message) {
      if (message.type === "message" && message.kind && message.kind.indexOf("event.") === 0) refetchSoon();
    });
  }
})();
