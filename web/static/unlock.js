// The unlock page: the password goes over a WebSocket to this node, and
// nowhere else; a successful unlock answers a one-time ticket that the
// page posts to /login for a new session.
"use strict";
(function () {
  const form = document.getElementById("unlock");
  const out = document.getElementById("unlock-status");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const pw = document.getElementById("password");
    const csrf = form.elements["csrf"].value;
    out.textContent = "Unlocking…";
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/ws/unlock");
    ws.onopen = function () {
      ws.send(JSON.stringify({ password: btoa(unescape(encodeURIComponent(pw.value))), csrf: csrf }));
      pw.value = "";
    };
    ws.onmessage = function (m) {
      const r = JSON.parse(m.data);
      if (r.ticket) {
        const login = document.getElementById("login");
        login.elements["ticket"].value = r.ticket;
        login.submit();
        return;
      }
      out.textContent = r.error || "The vault could not be unlocked.";
      pw.focus();
    };
    ws.onerror = function () { out.textContent = "Your node could not be reached."; };
  });
})();
