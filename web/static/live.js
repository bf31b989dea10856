// Live pages (Approvals, Alerts): an event from the node (a request, a
// decision, an agent locked) reloads the page, whose server-rendered
// list is the truth.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) { return; }
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + "/ws/events");
  ws.onmessage = function (m) {
    const ev = JSON.parse(m.data);
    live.textContent = ev.text;
    setTimeout(function () { location.reload(); }, 300);
  };
})();
