// An independent reader of the legacy export format, written from
// docs/legacy-vault.md alone, in the language legacy server vaults were
// written in. Usage: node verify.js PASSWORD FILE...
// For each file it prints "FILE ok NAME=VALUE_SHA256_PREFIX ..." or
// "FILE bad-password" / "FILE tampered" / "FILE invalid".
'use strict';
const crypto = require('crypto');
const fs = require('fs');

function F(x) {
  const b = Buffer.isBuffer(x) ? x : Buffer.from(x ?? '', 'utf8');
  const n = Buffer.alloc(4);
  n.writeUInt32BE(b.length);
  return Buffer.concat([n, b]);
}
function u32(x) { const n = Buffer.alloc(4); n.writeUInt32BE(x ?? 0); return n; }
const b64 = (s) => Buffer.from(s, 'base64');

function verify(password, text) {
  let e;
  try { e = JSON.parse(text); } catch { return 'invalid'; }
  if (e.format !== 'legacy-vault-export' || e.version !== 1 || e.cipher !== 'aes-256-gcm') return 'invalid';
  const k = e.kdf, salt = b64(k.salt);
  let ikm;
  if (k.name === 'scrypt') {
    if (k.n > 2 ** 20 || 128 * k.n * k.r > 256 * 2 ** 20 || 128 * k.n * k.r * k.p > 2 ** 30) return 'invalid';
    ikm = crypto.scryptSync(password, salt, 32, { N: k.n, r: k.r, p: k.p, maxmem: 2 ** 29 });
  } else if (k.name === 'pbkdf2-sha256') {
    if (k.iterations > 1e7) return 'invalid';
    ikm = crypto.pbkdf2Sync(password, salt, k.iterations, 32, 'sha256');
  } else return 'invalid';
  const kEnc = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, 'legacy-vault-export/v1 enc', 32));
  const kMac = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, 'legacy-vault-export/v1 mac', 32));
  const check = crypto.createHmac('sha256', kMac).update('legacy-vault-export/v1 check').digest();
  if (!crypto.timingSafeEqual(check, b64(e.check))) return 'bad-password';
  const out = [];
  const open = (r, field, s) => {
    const aad = Buffer.concat([Buffer.from('legacy-vault-export/v1 record\0'), F(r.id), F(r.name), F(r.type), F(field)]);
    const data = b64(s.data);
    const d = crypto.createDecipheriv('aes-256-gcm', kEnc, b64(s.iv));
    d.setAAD(aad);
    d.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]);
  };
  const parts = [Buffer.from('legacy-vault-export/v1 list\0'), F(e.format), F(String(e.version)), F(e.account),
    F(e.exported_at), F(k.name), F(salt), u32(k.n), u32(k.r), u32(k.p), u32(k.iterations), F(e.cipher), u32(e.records.length)];
  for (const r of e.records) {
    let v;
    try {
      v = open(r, 'value', r.value);
      if (r.refresh) v = Buffer.concat([v, Buffer.from('|'), open(r, 'refresh', r.refresh)]);
    } catch { return 'tampered'; }
    out.push(r.name + '=' + crypto.createHash('sha256').update(v).digest('hex').slice(0, 12));
    parts.push(F(r.id), F(r.name), F(r.type), F(r.provider), F(r.username), u32((r.scopes ?? []).length));
    for (const s of r.scopes ?? []) parts.push(F(s));
    parts.push(F(r.expires_at), F(r.created_at), F(r.updated_at), F(b64(r.value.iv)), F(b64(r.value.data)));
    parts.push(r.refresh ? Buffer.concat([Buffer.from([1]), F(b64(r.refresh.iv)), F(b64(r.refresh.data))]) : Buffer.from([0]));
  }
  const mac = crypto.createHmac('sha256', kMac).update(Buffer.concat(parts)).digest();
  if (!crypto.timingSafeEqual(mac, b64(e.mac))) return 'tampered';
  return 'ok ' + out.join(' ');
}

const [password, ...files] = process.argv.slice(2);
for (const f of files) console.log(f + ' ' + verify(password, fs.readFileSync(f, 'utf8')));
