// homesec's live client: one WebSocket per stream (/ws/events, /ws/system), shared by every
// part of the page. A reconnect asks for what was missed (?since=<last id seen>), so a page
// left open for days on a wall tablet stays complete. Pages call
//   homesecLive.subscribe("events", function (message) { ... })
// and get every stored message ({type: "message", id, kind, at, data}) and every pushed one
// ({type: "health", ...}) of that stream; homesecLive.fetchPart(url) fetches a part of the
// page again.
(function () {
  "use strict";
  const PING_MS = 30000;
  const streams = {};

  function indicator(open) {
    const dot = document.getElementById("live-state");
    if (!dot) return;
    const all = Object.values(streams);
    const up = all.length > 0 && all.every(function (s) { return s.open; });
    dot.className = "live-state " + (up ? "on" : "off");
    dot.title = up ? "live updates on" : "live updates reconnecting";
  }

  function connect(name) {
    const stream = streams[name];
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const since = stream.lastId ? "?since=" + stream.lastId : "";
    const ws = new WebSocket(proto + "://" + location.host + "/ws/" + name + since);
    stream.ws = ws;
    ws.onopen = function () { stream.open = true; stream.delay = 1000; indicator(); };
    ws.onmessage = function (raw) {
      let message;
      try { message = JSON.parse(raw.data); } catch (e) { return; }
      if (message.type === "pong") return;
      if (message.type === "message") {
        if (message.id <= stream.lastId) return;  // already handled before a reconnect
        stream.lastId = message.id;
      }
      stream.handlers.forEach(function (handler) {
        try { handler(message); } catch (e) { console.error("live handler failed", e); }
      });
    };
    ws.onclose = function (event) {
      stream.open = false;
      indicator();
      if (event.code === 4401 || event.code === 4403) {  // signed out: sign in again
        location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname + location.search);
        return;
      }
      setTimeout(function () { connect(name); }, stream.delay);
      stream.delay = Math.min(stream.delay * 2, 30000);
    };
  }

  function subscribe(name, handler) {
    if (!streams[name]) {
      // Only what happens from now on: the page itself was rendered from the database.
      const first = Number(document.body.dataset["live" + name.charAt(0).toUpperCase() + name.slice(1)] || 0);
      streams[name] = {handlers: [], lastId: first, delay: 1000, open: false, ws: null};
      connect(name);
    }
    streams[name].handlers.push(handler);
  }

  // A part of the page fetched again after a message: the Response, or null when there is
  // nothing to put in the page. Signed out, the answer is the login page by a redirect; the
  // socket's close code takes the browser there, and the part is left as it was.
  function fetchPart(url, accept) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: accept || "text/html"}})
      .then(function (response) { return response.ok && !response.redirected ? response : null; })
      .catch(function () { return null; });
  }

  setInterval(function () {
    Object.values(streams).forEach(function (stream) {
      if (stream.ws && stream.ws.readyState === WebSocket.OPEN) stream.ws.send(JSON.stringify({type: "ping"}));
    });
  }, PING_MS);

  window.homesecLive = {subscribe: subscribe, fetchPart: fetchPart};
})();
