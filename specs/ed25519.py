"""Ed25519 signature verification (RFC 8032), pure Python, for the spec
checkers. Written from RFC 8032 section 5.1 and the rule the specs state
(internal/keys, capability/doc.go): cofactorless verification, S < L
required, and the check is that the encoding of [S]B - [k]A equals the
first 32 bytes of the signature, byte for byte (so a non-canonical R never
verifies). Peer-key rules (canonical y, no small-order point) are the
callers' (specs/peerid.py); here a public key only has to decode to a
point.
"""

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

_BY = 4 * pow(5, P - 2, P) % P


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x & 1 != sign:
        x = P - x
    return x


_BX = _recover_x(_BY, 0)
B = (_BX, _BY, 1, _BX * _BY % P)
IDENTITY = (0, 1, 1, 0)


def add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(s, p):
    q = IDENTITY
    while s > 0:
        if s & 1:
            q = add(q, p)
        p = add(p, p)
        s >>= 1
    return q


def neg(p):
    x, y, z, t = p
    return ((P - x) % P, y, z, (P - t) % P)


def encode(p):
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def decode(b):
    """The point a 32-byte encoding names, or None. A y of P or more is
    reduced modulo P, as the Go library the mesh uses does; the peer-key
    rules refuse such encodings before any signature is checked."""
    if len(b) != 32:
        return None
    n = int.from_bytes(b, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    y %= P
    x = _recover_x(y, sign)
    if x is None:
        if y * y % P == 1 and sign:  # x = 0 with the sign bit set
            x = 0
        else:
            return None
    return (x, y, 1, x * y % P)


def verify(pub, msg, sig):
    """True when sig (64 bytes) is pub's (32 bytes) signature over msg."""
    if len(pub) != 32 or len(sig) != 64:
        return False
    a = decode(pub)
    if a is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % L
    r = add(mul(s, B), mul(k, neg(a)))
    return encode(r) == sig[:32]


def small_order(pub):
    """True when pub decodes to a point P with [8]P the identity."""
    a = decode(pub)
    if a is None:
        return False
    return encode(mul(8, a)) == encode(IDENTITY)


def public_from_seed(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return encode(mul(a, B))
