"""Checks internal/backup/testdata against internal/backup/doc.go (the
backup file, version 1) and vault/doc.go (the password wrap): it reads
each vector's file with its password as a restore would, up to the
content, and compares the outcome. Everything is verified, Argon2id
included (specs/argon2.py: the vectors' wraps use t = 1, m = 64 KiB,
p = 1); what it does not do is open the vault's records inside the
content, so a vector's secret value is not checked (its peer ID, vault
ID, handle, entry count and header fields are)."""

import datetime
import hashlib
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argon2  # noqa: E402
import ed25519  # noqa: E402
import peerid  # noqa: E402
import vectors  # noqa: E402
import xcrypto  # noqa: E402

MAGIC = b"OCMTBAK"
VERSION = 1
FIXED = 68
MIN_HEADER = FIXED + 1 + 1 + 2 + 1
MAX_HEADER = 4096
MAX_WRAPS = 8
MAX_KIND = 32
MAX_WRAP = 1024
MIN_LOG, MAX_LOG = 10, 20
TAG = 16
MAX_KEY = 65536
MAX_VALUE = 64 << 20
KIND_BYTES = set(b"abcdefghijklmnopqrstuvwxyz0123456789-")

# vault/doc.go, "Password wrap" (format 2) and "Migration from format 1".
# magic (8) | kdf id (1) | t u32 | m u32 | p u8 | salt (16) [| gen u32, format 2] | nonce (24) | sealed M (48)
WRAP_V2 = (b"OCMTWRP\x02", 110, b"ocmt-mesh/wrap/v2")
WRAP_V1 = (b"OCMTWRP\x01", 106, b"ocmt-mesh/wrap/v1")
MAX_KDF_MEMORY, MAX_KDF_TIME, MAX_KDF_THREADS = 1 << 20, 16, 16


class Refused(Exception):
    """A reader's answer other than success: its error name."""


def parse_header(data):
    """doc.go's six header steps: (fields, header bytes) or Refused."""
    n = min(len(data), 10)
    if n == 0 or data[:min(n, 7)] != MAGIC[:min(n, 7)]:
        raise Refused("not_backup")
    if n >= 8 and data[7] != VERSION:
        raise Refused("version")
    if n < 10:
        raise Refused("truncated")
    h = struct.unpack(">H", data[8:10])[0]
    if h < MIN_HEADER or h > MAX_HEADER:
        raise Refused("header")
    if len(data) < h:
        raise Refused("truncated")
    raw = data[:h]
    f = {"vault_id": raw[10:26], "created": struct.unpack(">q", raw[26:34])[0], "salt": raw[34:66]}
    log, count = raw[66], raw[67]
    if not MIN_LOG <= log <= MAX_LOG or not 1 <= count <= MAX_WRAPS:
        raise Refused("header")
    f["chunk"] = 1 << log
    wraps, pos, prev = [], FIXED, None
    for _ in range(count):
        if pos + 1 > h:
            raise Refused("header")
        klen = raw[pos]
        kind = raw[pos + 1:pos + 1 + klen]
        pos += 1 + klen
        if pos > h or not 1 <= klen <= MAX_KIND or not set(kind) <= KIND_BYTES:
            raise Refused("header")
        if prev is not None and kind <= prev:
            raise Refused("header")
        prev = kind
        if pos + 2 > h:
            raise Refused("header")
        dlen = struct.unpack(">H", raw[pos:pos + 2])[0]
        pos += 2
        if not 1 <= dlen <= MAX_WRAP or pos + dlen > h:
            raise Refused("header")
        wraps.append((kind.decode(), raw[pos:pos + dlen]))
        pos += dlen
    if pos != h:
        raise Refused("header")
    f["wraps"] = wraps
    return f, raw


_argon_cache = {}


def open_master(wraps, vault_id, password):
    """M from the "password" wrap (vault/doc.go), or Refused."""
    data = dict(wraps).get("password")
    if data is None:
        raise Refused("header")
    for magic, size, label in (WRAP_V2, WRAP_V1):
        if len(data) == size and data.startswith(magic):
            break
    else:
        raise Refused("header")
    kdf = data[8]
    t, m = struct.unpack(">II", data[9:17])
    p = data[17]
    salt = data[18:34]
    if kdf != 1 or t < 1 or p < 1 or m < 8 * p or m > MAX_KDF_MEMORY or t > MAX_KDF_TIME or p > MAX_KDF_THREADS:
        raise Refused("header")
    prefix = size - 24 - 48
    key = (password, salt, t, m, p)
    if key not in _argon_cache:
        _argon_cache[key] = argon2.argon2id(password, salt, t, m, p, 32)
    kek = xcrypto.hkdf(_argon_cache[key], salt, b"ocmt-mesh/vault-kek/v1")
    nonce = data[prefix:prefix + 24]
    master = xcrypto.xaead_open(kek, nonce, data[prefix + 24:], label + vault_id + data[:prefix])
    if master is None:
        raise Refused("bad_password")
    return master


class Chunks:
    """The chunk stream's plaintext, opened a piece at a time as the
    content is read (doc.go "Chunks")."""

    def __init__(self, body, key, aad, size):
        self.body, self.key, self.aad, self.size = body, key, aad, size
        self.pos, self.counter, self.buf, self.done = 0, 0, b"", False

    def _next(self):
        piece = self.body[self.pos:self.pos + self.size + TAG]
        if not piece:
            raise Refused("truncated")  # only before chunk 0: a final piece is last
        final = self.pos + len(piece) == len(self.body)
        if len(piece) <= TAG:
            raise Refused("altered")
        pt = xcrypto.xaead_open(self.key, self.nonce(final), piece, self.aad)
        if pt is None:
            if final and xcrypto.xaead_open(self.key, self.nonce(False), piece, self.aad) is not None:
                raise Refused("truncated")
            raise Refused("altered")
        self.pos += len(piece)
        self.counter += 1
        self.buf += pt
        self.done = final

    def nonce(self, last):
        return b"\x00" * 15 + struct.pack(">Q", self.counter) + (b"\x01" if last else b"\x00")

    def prime(self):
        if not self.buf and not self.done:
            self._next()

    def read(self, n):
        """n bytes, or fewer at the end of the content."""
        while len(self.buf) < n and not self.done:
            self._next()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def need(stream, n):
    b = stream.read(n)
    if len(b) != n:
        raise Refused("malformed")
    return b


def read_content(stream):
    """doc.go "Content": the seed and the entries, or Refused."""
    if need(stream, 1) != b"\x01":
        raise Refused("malformed")
    seed = need(stream, 32)
    entries, total, prev = [], 0, None
    while True:
        t = need(stream, 1)[0]
        if t == 3:
            n, b = struct.unpack(">QQ", need(stream, 16))
            if n != len(entries) or b != total or stream.read(1):
                raise Refused("malformed")
            return seed, entries
        if t != 2:
            raise Refused("malformed")
        klen = struct.unpack(">I", need(stream, 4))[0]
        if not 1 <= klen <= MAX_KEY:
            raise Refused("malformed")
        k = need(stream, klen)
        if not k.startswith(b"/") or (len(k) > 1 and k.endswith(b"/")):
            raise Refused("malformed")
        if prev is not None and k <= prev:
            raise Refused("malformed")
        vlen = struct.unpack(">I", need(stream, 4))[0]
        if vlen > MAX_VALUE:
            raise Refused("malformed")
        v = need(stream, vlen)
        entries.append((k, v))
        total += klen + vlen
        prev = k


def read_backup(data, password):
    f, raw = parse_header(data)
    master = open_master(f["wraps"], f["vault_id"], password)
    key = xcrypto.hkdf(master, f["vault_id"] + f["salt"], b"ocmt-mesh/backup/v1")
    body = data[len(raw):]
    stream = Chunks(body, key, hashlib.sha256(raw).digest(), f["chunk"])
    stream.prime()  # chunk 0 opens before anything is written
    seed, entries = read_content(stream)
    store = dict(entries)
    f.update(seed=seed, entries=entries, store=store, pieces=-(-len(body) // (f["chunk"] + TAG)))
    return f


def check(v):
    path = vectors.path("internal", "backup", "testdata", v["name"] + ".meshbak")
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        f = read_backup(data, v["password"].encode())
    except Refused as e:
        got = e.args[0]
        return None if got == v.get("error") else "refused %s, want %s" % (got, v.get("error") or "success")
    if v.get("error"):
        return "read, want %s" % v["error"]
    pid = peerid.text(peerid.PREFIX + ed25519.public_from_seed(f["seed"]))
    created = datetime.datetime.fromtimestamp(f["created"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    got = {
        "peer_id": pid, "vault_id": f["vault_id"].hex(), "id": f["salt"][:8].hex(), "created": created,
        "chunk_size": f["chunk"], "chunks": f["pieces"], "entries": len(f["entries"]),
        "kinds": ",".join(k for k, _ in f["wraps"]),
        "handle": f["store"].get(b"/mesh/profile/handle", b"").decode(),
    }
    bad = ["%s %r, want %r" % (k, got[k], v.get(k)) for k in sorted(got) if got[k] != v.get(k)]
    return "; ".join(bad) or None


def run(report):
    """Checks every vector into report (a vectors.Report)."""
    for v in vectors.load("internal/backup/testdata/vectors.json"):
        report.check(v["name"] + ": " + v["comment"], check, v)


if __name__ == "__main__":
    r = vectors.Report("backup")
    run(r)
    r.finish()
