// The Recovery page's "Add a security key": the key is registered for
// this page's host, then asked for its PRF (WebAuthn "prf", hmac-secret)
// of a salt the node chose; only that output, which only this key gives
// again, goes to the node, which makes it a way to set a new password.
"use strict";
(function () {
  const btn = document.getElementById("fido2-add");
  if (!btn) { return; }
  const out = document.getElementById("fido2-status");
  const b64u = function (buf) {
    let s = "";
    new Uint8Array(buf).forEach(function (c) { s += String.fromCharCode(c); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const fromHex = function (h) {
    const a = new Uint8Array(h.length / 2);
    for (let i = 0; i < a.length; i++) { a[i] = parseInt(h.substr(2 * i, 2), 16); }
    return a;
  };
  btn.addEventListener("click", async function () {
    const salt = fromHex(btn.dataset.salt);
    out.textContent = "Touch your security key…";
    try {
      const cred = await navigator.credentials.create({ publicKey: {
        rp: { name: "OCMT Mesh", id: location.hostname },
        user: { id: crypto.getRandomValues(new Uint8Array(16)), name: "vault owner", displayName: "vault owner" },
        challenge: crypto.getRandomValues(new Uint8Array(32)),
        pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -257 }],
        authenticatorSelection: { userVerification: "preferred" },
        extensions: { prf: {} } } });
      const got = await navigator.credentials.get({ publicKey: {
        challenge: crypto.getRandomValues(new Uint8Array(32)), rpId: location.hostname,
        allowCredentials: [{ type: "public-key", id: cred.rawId }], userVerification: "preferred",
        extensions: { prf: { eval: { first: salt } } } } });
      const prf = got.getClientExtensionResults().prf;
      if (!prf || !prf.results || !prf.results.first) {
        out.textContent = "This security key cannot do it (it has no PRF, hmac-secret): nothing was changed.";
        return;
      }
      const body = new URLSearchParams({ csrf: btn.dataset.csrf, rp: location.hostname, credential: b64u(cred.rawId),
        salt: b64u(salt), prf: b64u(prf.results.first) });
      await fetch("/recovery/fido2", { method: "POST", body: body, redirect: "manual" });
      location.href = "/recovery"; // the page says what the node did

    } catch (e) {
      out.textContent = "The security key was not added: " + e.message;
    }
  });
})();
