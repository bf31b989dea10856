"""Peer IDs as the specs define them (internal/wire/doc.go, "Peer IDs"):
exactly 38 bytes, the identity multihash 0x00 0x24 of the protobuf
PublicKey 0x08 0x01 0x12 0x20 followed by the 32-byte Ed25519 key; the key
must be canonical (y < 2^255 - 19) and must not be one of the eight points
of small order, whatever its sign bit. Nothing else is a peer ID on the
wire. Text form: base58btc (Bitcoin alphabet) of the bytes.
"""

import ed25519

PREFIX = bytes.fromhex("002408011220")
LENGTH = 38

# The y coordinates (sign bit clear, little-endian) of the eight points of
# small order: 1, p - 1, 0 and the two of the points of order 8.
SMALL_ORDER_Y = [
    (1).to_bytes(32, "little"),
    (ed25519.P - 1).to_bytes(32, "little"),
    bytes(32),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
]


def key_problem(key):
    """Why 32 bytes are not an acceptable peer key, or None."""
    if len(key) != 32:
        return "key of %d bytes" % len(key)
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    if y >= ed25519.P:
        return "non-canonical key (y >= p)"
    cleared = key[:31] + bytes([key[31] & 0x7F])
    if cleared in SMALL_ORDER_Y:
        return "small-order key"
    return None


def problem(b):
    """Why b is not a peer ID, or None."""
    b = bytes(b)
    if len(b) != LENGTH or not b.startswith(PREFIX):
        return "not a canonical Ed25519 peer ID"
    return key_problem(b[len(PREFIX):])


def key(b):
    return bytes(b)[len(PREFIX):]


_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58(b):
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _ALPHABET[r] + out
    for c in b:
        if c:
            break
        out = "1" + out
    return out


def unb58(s):
    n = 0
    for c in s:
        n = n * 58 + _ALPHABET.index(c)
    lead = len(s) - len(s.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * lead + body


def text(b):
    return b58(bytes(b))
