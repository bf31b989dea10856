#!/usr/bin/env python3
"""An independent verifier of OCMT Mesh capability tokens.

Written from the specification in capability/doc.go alone, not from the Go
code, with the Python standard library only. It runs the committed vectors
(capability/testdata/vectors.json, format in capability/testdata/README.md)
and reports every vector whose outcome differs from the one recorded:

    python3 -B specs/tokens/verify.py [-v] [capability/testdata/vectors.json]

The vectors file defaults to the committed one. Exit status 0 when every vector agrees, 1 when one does not, 2 on a usage
or file error. -v prints every vector's outcome.

The section names in the comments below are doc.go's.
"""

import hashlib
import json
import os
import sys
import time
from functools import lru_cache

# --- Limits ------------------------------------------------------------------
# The values of doc.go's Limits table (the CBOR caps need no code: see there).

VERSION = 1
MAX_TOKEN_BYTES = 4096
MAX_TEXT_LEN = 5468
MAX_DEPTH = 4
MAX_RESOURCE_LEN = 256
MAX_RESOURCE_SEGMENTS = 16
MAX_SEGMENT_LEN = 64
MAX_MAX_USES = 1 << 20
NONCE_SIZE = 16
PEER_ID_LEN = 38
SIGNATURE_SIZE = 64
MAX_EXPIRY = 253402300799
DEFAULT_SKEW = 60

TEXT_PREFIX = b"ocmt1."
TOKEN_LABEL = b"ocmt-mesh/token/v1"
PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])

# Actions are bits.
ACTIONS = {"read": 0x01, "list": 0x02, "write": 0x04, "delete": 0x08,
           "admin": 0x10, "share": 0x20, "use": 0x40}
KNOWN_ACTIONS = 0x7F
SHARE = ACTIONS["share"]
NOT_IN_CEILING = ACTIONS["delete"] | ACTIONS["admin"] | ACTIONS["share"]


class Refused(Exception):
    """A verification failure: name is the sentinel's name (ErrMalformed)."""

    def __init__(self, name, why):
        super().__init__(f"{name}: {why}")
        self.name = name


def malformed(why):
    return Refused("ErrMalformed", why)


# --- Text form ---------------------------------------------------------------

B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
B64VAL = {c: i for i, c in enumerate(B64URL)}


def parse_text(text):
    """The text form: size first, then prefix, alphabet, length and bits."""
    raw = text.encode("utf-8")
    if len(raw) > MAX_TEXT_LEN:
        raise Refused("ErrTooLarge", f"text is {len(raw)} bytes")
    if not raw.startswith(TEXT_PREFIX):
        raise malformed("no prefix")
    body = raw[len(TEXT_PREFIX):]
    vals = []
    for c in body:
        v = B64VAL.get(c)
        if v is None:
            raise malformed(f"byte {c:#04x} outside the alphabet")
        vals.append(v)
    n = len(vals)
    if n % 4 == 1:
        raise malformed("length 1 mod 4")
    acc = 0
    for v in vals:
        acc = (acc << 6) | v
    unused = (6 * n) % 8  # 0, 4 (n mod 4 = 2) or 2 (n mod 4 = 3)
    if acc & ((1 << unused) - 1):
        raise malformed("stray bits")
    acc >>= unused
    return acc.to_bytes((6 * n) // 8, "big")


# --- Encoding: the CBOR subset -----------------------------------------------

UINT, BYTES, TEXT = 0, 2, 3

ENVELOPE_FIELDS = {1: BYTES, 2: BYTES}
PAYLOAD_FIELDS = {1: UINT, 2: BYTES, 3: BYTES, 4: TEXT, 5: UINT, 6: UINT,
                  7: UINT, 8: BYTES, 9: UINT, 10: UINT, 11: BYTES}


def read_head(b, i):
    """One CBOR head at b[i]: (major type, argument, next index), shortest form only."""
    if i >= len(b):
        raise malformed("truncated")
    major, ai = b[i] >> 5, b[i] & 0x1F
    i += 1
    if ai < 24:
        return major, ai, i
    if ai > 27:
        raise malformed("indefinite length or reserved head")
    n = 1 << (ai - 24)
    if i + n > len(b):
        raise malformed("truncated head")
    arg = int.from_bytes(b[i:i + n], "big")
    if arg < (24 if n == 1 else 1 << (4 * n)):
        raise malformed("head not in its shortest form")
    return major, arg, i + n


def decode_map(b, fields):
    """A definite map, keys from fields strictly increasing, values of their
    types, nothing after it. Returns {key: value}."""
    major, count, i = read_head(b, 0)
    if major != 5:
        raise malformed("not a map")
    out, last = {}, -1
    for _ in range(count):
        kmajor, key, i = read_head(b, i)
        if kmajor != 0 or key not in fields:
            raise malformed("unknown key")
        if key <= last:
            raise malformed("keys not strictly increasing")
        last = key
        vmajor, arg, i = read_head(b, i)
        want = fields[key]
        if vmajor != want:
            raise malformed(f"key {key}: major type {vmajor}")
        if want == UINT:
            out[key] = arg
            continue
        if i + arg > len(b):
            raise malformed("truncated string")
        val = bytes(b[i:i + arg])
        i += arg
        if want == TEXT:
            try:
                val = val.decode("utf-8")
            except UnicodeDecodeError:
                raise malformed("text not UTF-8") from None
        out[key] = val
    if i != len(b):
        raise malformed("bytes after the map")
    return out


# --- Peer IDs and keys -------------------------------------------------------

P = 2**255 - 19
SMALL_ORDER_Y = {
    0, 1, P - 1,
    int.from_bytes(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little"),
    int.from_bytes(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "little"),
}


def peer_key(pid):
    """The 32 key bytes of a canonical Ed25519 peer ID that passes the key rule."""
    if len(pid) != PEER_ID_LEN or pid[:len(PEER_ID_PREFIX)] != PEER_ID_PREFIX:
        raise malformed("not a canonical Ed25519 peer ID")
    key = pid[len(PEER_ID_PREFIX):]
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    if y >= P:
        raise malformed("non-canonical key (y >= p)")
    if y in SMALL_ORDER_Y:
        raise malformed("key of small order")
    return key


# --- Signatures: Ed25519, cofactorless --------------------------------------

L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
D2 = (2 * D) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def point_add(p1, p2):
    # Extended coordinates (RFC 8032 §5.1.4).
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * D2 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_double(p1):
    x1, y1, z1, _ = p1
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    xy = x1 + y1
    e = h - xy * xy % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_neg(p1):
    x, y, z, t = p1
    return ((-x) % P, y, z, (-t) % P)


IDENTITY = (0, 1, 1, 0)


def encode_point(p1):
    x, y, z, _ = p1
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


@lru_cache(maxsize=None)
def decode_point(b):
    """RFC 8032 §5.1.3, or None when b is no curve point (or not canonical)."""
    n = int.from_bytes(b, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vx2 = v * x * x % P
    if vx2 == (-u) % P:
        x = x * SQRT_M1 % P
    elif vx2 != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


BASE = decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))


def double_scalar_mult(s, base, k, point):
    """[s]base + [k]point, one shared doubling chain (Straus)."""
    both = point_add(base, point)
    acc = IDENTITY
    for bit in range(max(s.bit_length(), k.bit_length()) - 1, -1, -1):
        acc = point_double(acc)
        sb, kb = (s >> bit) & 1, (k >> bit) & 1
        if sb and kb:
            acc = point_add(acc, both)
        elif sb:
            acc = point_add(acc, base)
        elif kb:
            acc = point_add(acc, point)
    return acc


@lru_cache(maxsize=None)
def ed25519_holds(key, message, sig):
    """doc.go, Signatures, steps 1 to 3."""
    s = int.from_bytes(sig[32:], "little")
    if s >= L:
        return False
    a = decode_point(key)
    if a is None:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + key + message).digest(), "little") % L
    return encode_point(double_scalar_mult(s, BASE, k, point_neg(a))) == sig[:32]


def self_test():
    """RFC 8032 §7.1, tests 1 and 2, and one altered signature."""
    for key, msg, sig in [
        ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ]:
        key, msg, sig = bytes.fromhex(key), bytes.fromhex(msg), bytes.fromhex(sig)
        if not ed25519_holds(key, msg, sig) or ed25519_holds(key, msg + b"x", sig):
            raise SystemExit("self-test: Ed25519 does not match RFC 8032")


# --- Resources ---------------------------------------------------------------

NAME_CHARS = set(b"abcdefghijklmnopqrstuvwxyz0123456789._-")


def segments(s, wildcards):
    """The segment list of a valid pattern (wildcards) or path, else None."""
    if not s or not s.isascii() or len(s) > MAX_RESOURCE_LEN:
        return None
    segs = s.split("/")
    if len(segs) > MAX_RESOURCE_SEGMENTS:
        return None
    for i, seg in enumerate(segs):
        if seg in ("*", "**"):
            if not wildcards or (seg == "**" and i != len(segs) - 1):
                return None
            continue
        if not 1 <= len(seg) <= MAX_SEGMENT_LEN or set(seg) == {"."}:
            return None
        if not set(seg.encode()) <= NAME_CHARS:
            return None
    return segs


def within(c, p):
    """doc.go's procedure, indices from 0."""
    for i, ps in enumerate(p):
        if ps == "**":
            return len(c) >= i + 1
        if len(c) < i + 1:
            return False
        if ps == "*":
            if c[i] == "**":
                return False
        elif c[i] != ps:
            return False
    return len(c) == len(p)


# --- Decoding ----------------------------------------------------------------

class Token:
    def __init__(self, raw, pl, sig):
        self.raw, self.sig = raw, sig
        self.id = hashlib.sha256(raw).hexdigest()
        self.payload = None
        self.issuer, self.audience = pl[2], pl[3]
        self.issuer_key = None
        self.resource = pl[4]
        self.segments = None
        self.actions, self.not_before, self.expiry = pl[5], pl[6], pl[7]
        self.max_uses = pl.get(9)
        self.ceiling = pl.get(10)
        self.parent = None


def decode(raw, position=1):
    if position == 1 and len(raw) > MAX_TOKEN_BYTES:
        raise Refused("ErrTooLarge", f"envelope is {len(raw)} bytes")
    env = decode_map(raw, ENVELOPE_FIELDS)
    if set(env) != {1, 2}:
        raise malformed("envelope lacks a field")
    if len(env[2]) != SIGNATURE_SIZE:
        raise malformed("signature length")
    pl = decode_map(env[1], PAYLOAD_FIELDS)
    for k in range(1, 9):
        if k not in pl:
            raise malformed(f"required key {k} missing")
    if pl[1] != VERSION:
        raise malformed("version")
    tok = Token(raw, pl, env[2])
    tok.payload = env[1]
    tok.issuer_key = peer_key(pl[2])
    peer_key(pl[3])
    tok.segments = segments(pl[4], True)
    if tok.segments is None:
        raise malformed("resource is not a pattern")
    if not 1 <= pl[5] <= KNOWN_ACTIONS:
        raise malformed("actions")
    if not pl[6] < pl[7] <= MAX_EXPIRY:
        raise malformed("validity")
    if len(pl[8]) != NONCE_SIZE:
        raise malformed("nonce length")
    if 9 in pl and not 1 <= pl[9] <= MAX_MAX_USES:
        raise malformed("max-uses")
    if 10 in pl and (not 1 <= pl[10] <= KNOWN_ACTIONS or pl[10] & NOT_IN_CEILING):
        raise malformed("ceiling")
    if 11 in pl:
        if len(pl[11]) == 0:
            raise malformed("empty parent")
        if position == MAX_DEPTH:
            raise Refused("ErrTooDeep", "a parent at position MaxDepth")
        tok.parent = decode(pl[11], position + 1)
    return tok


def chain_of(leaf):
    out = []
    t = leaf
    while t is not None:
        out.append(t)
        t = t.parent
    return out[::-1]  # link 1 is the root


# --- Verification ------------------------------------------------------------

def verify(leaf, remote, owner, path, action_names, now, revoked, uses_spent):
    chain = chain_of(leaf)
    for t in chain:  # 2
        if not ed25519_holds(t.issuer_key, TOKEN_LABEL + b"\x00" + t.payload, t.sig):
            raise Refused("ErrBadSignature", "signature")
    for parent, t in zip(chain, chain[1:]):  # 3
        if t.issuer != parent.audience:
            raise Refused("ErrBrokenChain", "issuer")
        if not parent.actions & SHARE:
            raise Refused("ErrNoShare", "share")
        if t.actions & ~parent.actions:
            raise Refused("ErrEscalation", "actions")
        if not within(t.segments, parent.segments):
            raise Refused("ErrWidened", "resource")
        if t.not_before < parent.not_before or t.expiry > parent.expiry:
            raise Refused("ErrValidityExtended", "window")
    for i, t in enumerate(chain):  # 4
        for above in chain[:i + 1]:
            if above.ceiling is not None and t.actions & ~above.ceiling:
                raise Refused("ErrCeiling", "ceiling")
    skew = DEFAULT_SKEW
    for t in chain:  # 5
        if now + skew < t.not_before:
            raise Refused("ErrNotYetValid", "not yet")
        if now - skew >= t.expiry:
            raise Refused("ErrExpired", "expired")
    for t in chain:  # 6
        if t.id in revoked:
            raise Refused("ErrRevoked", t.id)
    if leaf.audience != remote:  # 7
        raise Refused("ErrWrongAudience", "audience")
    if chain[0].issuer != owner:  # 8
        raise Refused("ErrWrongOwner", "owner")
    bits = [ACTIONS.get(n.strip()) for n in action_names.split(",")]  # 9
    if len(bits) != 1 or bits[0] is None or not leaf.actions & bits[0]:
        raise Refused("ErrNotPermitted", "action")
    segs = segments(path, False)
    if segs is None or not within(segs, leaf.segments):
        raise Refused("ErrNotPermitted", "path")
    counted = [t for t in chain if t.max_uses is not None]  # 10
    for t in counted:
        if uses_spent.get(t.id, 0) >= t.max_uses:
            raise Refused("ErrReplayed", t.id)
    for t in counted:
        uses_spent[t.id] = uses_spent.get(t.id, 0) + 1


# --- Vectors -----------------------------------------------------------------

DEFAULT_VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                               "capability", "testdata", "vectors.json")

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(s):
    n = 0
    for c in s:
        n = n * 58 + B58.index(c)
    zeros = len(s) - len(s.lstrip("1"))
    return b"\x00" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")


def run(v):
    """The outcome of one vector: "ok" or a sentinel name."""
    try:
        if "envelope" in v:
            leaf = decode(bytes.fromhex(v["envelope"]))
        else:
            leaf = decode(parse_text(v["token"]))
        remote, owner = base58(v["remote"]), base58(v["owner"])
        revoked = set(v.get("revoked") or [])
        spent = {}
        for _ in range(max(v.get("uses", 1), 1)):
            verify(leaf, remote, owner, v["resource"], v["action"], v["now"], revoked, spent)
    except Refused as e:
        return e.name
    return "ok"


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv[1:] if a != "-v"] or [DEFAULT_VECTORS]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            vectors = json.load(f)
    except (OSError, ValueError) as e:
        print(f"verify.py: {e}", file=sys.stderr)
        return 2
    start = time.monotonic()
    self_test()
    bad = 0
    for v in vectors:
        got = run(v)
        if got != v["want"]:
            bad += 1
            print(f"DISAGREE {v['name']!r}: got {got}, want {v['want']}")
        elif verbose:
            print(f"ok       {v['name']!r}: {got}")
    took = time.monotonic() - start
    print(f"verify.py: {len(vectors) - bad} of {len(vectors)} vectors agree ({took:.1f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
