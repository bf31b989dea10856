"""Checks internal/peerseal/testdata against internal/peerseal/doc.go:
recipient and identity derivation (keys.json), and opening sealed
messages with the recipient's seed (sealed.json), the whole age v1 format
as doc.go gives it: header, stanzas, MAC, nonce, chunks."""

import base64
import binascii
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ed25519  # noqa: E402
import peerid  # noqa: E402
import vectors  # noqa: E402
import xcrypto  # noqa: E402

P = 2**255 - 19
INTRO = b"age-encryption.org/v1\n"
COLUMNS = 64
MAX_HEADER = 2 << 20
MAX_STANZAS = 1024
CHUNK = 64 << 10
TAG = 16
NONCE = 16


# ---- Bech32 (BIP 173) ------------------------------------------------------

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values):
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    return chk


def bech32(hrp, data, upper=False):
    hrp = hrp.lower()
    acc, bits, values = 0, 0, []
    for b in data:
        acc = acc << 8 | b
        bits += 8
        while bits >= 5:
            bits -= 5
            values.append(acc >> bits & 31)
    if bits:
        values.append(acc << (5 - bits) & 31)
    exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    mod = _polymod(exp + values + [0] * 6) ^ 1
    s = hrp + "1" + "".join(CHARSET[v] for v in values) + "".join(CHARSET[(mod >> 5 * (5 - i)) & 31] for i in range(6))
    return s.upper() if upper else s


# ---- keys ------------------------------------------------------------------

def recipient_u(peer):
    """The X25519 recipient (u, 32 bytes) of a peer ID, or None: refused."""
    if peerid.problem(peer):
        return None
    key = peerid.key(peer)
    if ed25519.decode(key) is None:
        return None  # no curve point
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    u = (1 + y) * pow(1 - y, P - 2, P) % P
    return u.to_bytes(32, "little")


def identity_scalar(seed):
    return hashlib.sha512(seed).digest()[:32]


def check_key(v):
    if v["kind"] == "recipient":
        u = recipient_u(bytes.fromhex(v["peer"]))
        if u is None:
            return None if v["want"] == "refused" else "refused, want ok"
        if v["want"] != "ok":
            return "derived a recipient, want refused"
        got = bech32("age", u)
        return None if got == v["recipient"] else "recipient %s" % got
    k = identity_scalar(bytes.fromhex(v["seed"]))
    got = (bech32("AGE-SECRET-KEY-", k, upper=True), bech32("age", xcrypto.x25519(k, xcrypto.BASE_U)))
    return None if got == (v["identity"], v["recipient"]) else "derived %r" % (got,)


# ---- opening ---------------------------------------------------------------

class Refused(Exception):
    pass


class NotRecipient(Exception):
    pass


def b64(s):
    """Canonical unpadded standard base64, or Refused."""
    if "=" in s or "\n" in s or "\r" in s:
        raise Refused("base64 padding or newline")
    pad = "=" * (-len(s) % 4)
    try:
        raw = base64.b64decode(s + pad, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("bad base64 %r" % s)
    if base64.b64encode(raw).decode().rstrip("=") != s:
        raise Refused("non-canonical base64 %r" % s)
    return raw


def valid_arg(a):
    return len(a) > 0 and all(33 <= ord(c) <= 126 for c in a)


def parse_header(data):
    """(stanzas, mac, bytes the MAC covers, payload offset)."""
    pos = 0

    def line():
        nonlocal pos
        i = data.find(b"\n", pos)
        if i < 0:
            raise Refused("end of file inside the header")
        if i + 1 > MAX_HEADER:
            raise Refused("header over 2 MiB")
        out = data[pos:i + 1]
        pos = i + 1
        return out

    if line() != INTRO:
        raise Refused("intro")
    stanzas = []
    while True:
        if pos + 3 > MAX_HEADER:
            raise Refused("header over 2 MiB")
        if data[pos:pos + 3] == b"---":
            covered = data[:pos + 3]
            l = line().decode("latin-1").rstrip("\n")
            parts = l.split(" ")
            if parts[0] != "---" or len(parts) != 2 or not valid_arg(parts[1]):
                raise Refused("closing line")
            mac = b64(parts[1])
            if len(mac) != 32:
                raise Refused("MAC length")
            break
        if len(stanzas) == MAX_STANZAS:
            raise Refused("more than 1024 stanzas")
        l = line().decode("latin-1").rstrip("\n")
        parts = l.split(" ")
        if parts[0] != "->" or len(parts) < 2 or not all(valid_arg(a) for a in parts[1:]):
            raise Refused("stanza line %r" % l)
        body = []
        while True:
            bl = line().decode("latin-1").rstrip("\n")
            if len(bl) > COLUMNS:
                raise Refused("body line too long")
            body.append(b64(bl))
            if len(bl) < COLUMNS:
                break
        stanzas.append((parts[1], parts[2:], b"".join(body)))
    if not stanzas:
        raise Refused("no stanza")
    return stanzas, mac, covered, pos


def open_sealed(data, seed):
    stanzas, mac, covered, pos = parse_header(data)
    k = identity_scalar(seed)
    ours = xcrypto.x25519(k, xcrypto.BASE_U)
    file_key = None
    for typ, args, body in stanzas:
        if typ != "X25519":
            continue
        if len(args) != 1:
            raise Refused("X25519 stanza arguments")
        share = b64(args[0])
        if len(share) != 32:
            raise Refused("X25519 share length")
        shared = xcrypto.x25519(k, share)
        if shared == bytes(32):
            raise Refused("zero shared secret")
        if len(body) != 32:
            raise Refused("X25519 body length")
        wrap = xcrypto.hkdf(shared, share + ours, b"age-encryption.org/v1/X25519")
        file_key = xcrypto.aead_open(wrap, bytes(12), body)
        if file_key is not None:
            break
    if file_key is None:
        raise NotRecipient()
    if xcrypto.hmac_sha256(xcrypto.hkdf(file_key, b"", b"header"), covered) != mac:
        raise Refused("header MAC")
    if len(data) - pos < NONCE:
        raise Refused("nonce")
    nonce = data[pos:pos + NONCE]
    pos += NONCE
    key = xcrypto.hkdf(file_key, nonce, b"payload")
    out, i = b"", 0
    while True:
        chunk = data[pos:pos + CHUNK + TAG]
        if not chunk:
            raise Refused("no chunk flagged last")
        pos += len(chunk)
        if len(chunk) < CHUNK + TAG:
            if i > 0 and len(chunk) == TAG:
                raise Refused("empty last chunk after the first")
            pt = xcrypto.aead_open(key, i.to_bytes(11, "big") + b"\x01", chunk)
            last = True
        else:
            pt = xcrypto.aead_open(key, i.to_bytes(11, "big") + b"\x00", chunk)
            last = False
            if pt is None:
                pt = xcrypto.aead_open(key, i.to_bytes(11, "big") + b"\x01", chunk)
                last = True
        if pt is None:
            raise Refused("chunk %d does not open" % i)
        out += pt
        i += 1
        if last:
            break
    if pos != len(data):
        raise Refused("bytes after the last chunk")
    return out


def check_sealed(v):
    try:
        pt = open_sealed(vectors.blob(v), bytes.fromhex(v["seed"]))
        got = "ok"
    except NotRecipient:
        got = "not-recipient"
    except Refused as e:
        got = "refused"
        why = str(e)
    if got != v["want"]:
        return "%s (%s), want %s" % (got, why if got == "refused" else "", v["want"])
    if got == "ok" and (len(pt) != v.get("len", 0) or (v.get("plaintext") and pt.hex() != v["plaintext"])):
        return "plaintext of %d bytes" % len(pt)
    return None


if __name__ == "__main__":
    r = vectors.Report("peerseal")
    for v in vectors.load("internal/peerseal/testdata/keys.json"):
        r.check("keys.json: " + v["name"], check_key, v)
    for v in vectors.load("internal/peerseal/testdata/sealed.json"):
        r.check("sealed.json: " + v["name"], check_sealed, v)
    r.finish()
