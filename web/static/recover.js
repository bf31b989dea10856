// The recovery page (a lost password): the security key gives its PRF of
// the vault's salt, and that output and the new password go to this node
// only, in one request's body (never a URL or a form the browser keeps).
"use strict";
(function () {
  const form = document.getElementById("recover");
  const out = document.getElementById("recover-status");
  const b64u = function (buf) {
    let s = "";
    new Uint8Array(buf).forEach(function (c) { s += String.fromCharCode(c); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const fromB64u = function (s) {
    const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    const a = new Uint8Array(b.length);
    for (let i = 0; i < b.length; i++) { a[i] = b.charCodeAt(i); }
    return a;
  };
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const pw = document.getElementById("new-password"), again = document.getElementById("new-password-again");
    if (pw.value !== again.value) { out.textContent = "The two passwords differ."; return; }
    const csrf = form.elements["csrf"].value;
    try {
      const o = await (await fetch("/recover/options")).json();
      if (o.error) { out.textContent = o.error; return; }
      out.textContent = "Touch your security key…";
      const got = await navigator.credentials.get({ publicKey: {
        challenge: crypto.getRandomValues(new Uint8Array(32)), rpId: o.rp_id,
        allowCredentials: [{ type: "public-key", id: fromB64u(o.credential) }], userVerification: "preferred",
        extensions: { prf: { eval: { first: fromB64u(o.salt) } } } } });
      const prf = got.getClientExtensionResults().prf;
      if (!prf || !prf.results || !prf.results.first) { out.textContent = "The security key gave no PRF: nothing was changed."; return; }
      const r = await (await fetch("/recover", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ csrf: csrf, prf: b64u(prf.results.first), password: btoa(unescape(encodeURIComponent(pw.value))) }) })).json();
      pw.value = ""; again.value = "";
      out.textContent = r.error || "A new password is set. Unlock with it.";
    } catch (e) {
      out.textContent = "Nothing was changed: " + e.message;
    }
  });
})();
