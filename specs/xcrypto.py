"""The symmetric and Diffie-Hellman primitives the encrypted formats use,
in pure Python (standard library only), written from their RFCs: X25519
(RFC 7748), ChaCha20 and Poly1305 and their AEAD (RFC 8439), XChaCha20
(draft-irtf-cfrg-xchacha-03: HChaCha20 then ChaCha20-Poly1305 with the
last 8 bytes of the nonce), HKDF-SHA256 (RFC 5869) and HMAC-SHA256 (the
standard library's). Slow but exact: the checkers run them on a few KiB.
"""

import hashlib
import hmac
import struct

P = 2**255 - 19


# ---- X25519 (RFC 7748 section 5) -------------------------------------------

def _clamp(k):
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return int.from_bytes(k, "little")


def x25519(scalar, u):
    k = _clamp(scalar)
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    a24 = 121665
    for t in reversed(range(255)):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a = (x2 + z2) % P
        aa = a * a % P
        b = (x2 - z2) % P
        bb = b * b % P
        e = (aa - bb) % P
        c = (x3 + z3) % P
        d = (x3 - z3) % P
        da = d * a % P
        cb = c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + a24 * e) % P
    if swap:
        x2, x3, z2, z3 = x3, x2, z3, z2
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


BASE_U = (9).to_bytes(32, "little")


# ---- ChaCha20 (RFC 8439 section 2.3) ---------------------------------------

_SIGMA = struct.unpack("<4I", b"expand 32-byte k")


def _rounds(state):
    x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15 = state
    M = 0xFFFFFFFF
    for _ in range(10):
        # Column rounds.
        x0 = (x0 + x4) & M; x12 ^= x0; x12 = (x12 << 16 | x12 >> 16) & M
        x8 = (x8 + x12) & M; x4 ^= x8; x4 = (x4 << 12 | x4 >> 20) & M
        x0 = (x0 + x4) & M; x12 ^= x0; x12 = (x12 << 8 | x12 >> 24) & M
        x8 = (x8 + x12) & M; x4 ^= x8; x4 = (x4 << 7 | x4 >> 25) & M
        x1 = (x1 + x5) & M; x13 ^= x1; x13 = (x13 << 16 | x13 >> 16) & M
        x9 = (x9 + x13) & M; x5 ^= x9; x5 = (x5 << 12 | x5 >> 20) & M
        x1 = (x1 + x5) & M; x13 ^= x1; x13 = (x13 << 8 | x13 >> 24) & M
        x9 = (x9 + x13) & M; x5 ^= x9; x5 = (x5 << 7 | x5 >> 25) & M
        x2 = (x2 + x6) & M; x14 ^= x2; x14 = (x14 << 16 | x14 >> 16) & M
        x10 = (x10 + x14) & M; x6 ^= x10; x6 = (x6 << 12 | x6 >> 20) & M
        x2 = (x2 + x6) & M; x14 ^= x2; x14 = (x14 << 8 | x14 >> 24) & M
        x10 = (x10 + x14) & M; x6 ^= x10; x6 = (x6 << 7 | x6 >> 25) & M
        x3 = (x3 + x7) & M; x15 ^= x3; x15 = (x15 << 16 | x15 >> 16) & M
        x11 = (x11 + x15) & M; x7 ^= x11; x7 = (x7 << 12 | x7 >> 20) & M
        x3 = (x3 + x7) & M; x15 ^= x3; x15 = (x15 << 8 | x15 >> 24) & M
        x11 = (x11 + x15) & M; x7 ^= x11; x7 = (x7 << 7 | x7 >> 25) & M
        # Diagonal rounds.
        x0 = (x0 + x5) & M; x15 ^= x0; x15 = (x15 << 16 | x15 >> 16) & M
        x10 = (x10 + x15) & M; x5 ^= x10; x5 = (x5 << 12 | x5 >> 20) & M
        x0 = (x0 + x5) & M; x15 ^= x0; x15 = (x15 << 8 | x15 >> 24) & M
        x10 = (x10 + x15) & M; x5 ^= x10; x5 = (x5 << 7 | x5 >> 25) & M
        x1 = (x1 + x6) & M; x12 ^= x1; x12 = (x12 << 16 | x12 >> 16) & M
        x11 = (x11 + x12) & M; x6 ^= x11; x6 = (x6 << 12 | x6 >> 20) & M
        x1 = (x1 + x6) & M; x12 ^= x1; x12 = (x12 << 8 | x12 >> 24) & M
        x11 = (x11 + x12) & M; x6 ^= x11; x6 = (x6 << 7 | x6 >> 25) & M
        x2 = (x2 + x7) & M; x13 ^= x2; x13 = (x13 << 16 | x13 >> 16) & M
        x8 = (x8 + x13) & M; x7 ^= x8; x7 = (x7 << 12 | x7 >> 20) & M
        x2 = (x2 + x7) & M; x13 ^= x2; x13 = (x13 << 8 | x13 >> 24) & M
        x8 = (x8 + x13) & M; x7 ^= x8; x7 = (x7 << 7 | x7 >> 25) & M
        x3 = (x3 + x4) & M; x14 ^= x3; x14 = (x14 << 16 | x14 >> 16) & M
        x9 = (x9 + x14) & M; x4 ^= x9; x4 = (x4 << 12 | x4 >> 20) & M
        x3 = (x3 + x4) & M; x14 ^= x3; x14 = (x14 << 8 | x14 >> 24) & M
        x9 = (x9 + x14) & M; x4 ^= x9; x4 = (x4 << 7 | x4 >> 25) & M
    return [x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15]


def _block(key, counter, nonce):
    state = list(_SIGMA) + list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce))
    s = _rounds(state)
    return struct.pack("<16I", *[(x + y) & 0xFFFFFFFF for x, y in zip(s, state)])


def chacha20(key, counter, nonce, data):
    out = bytearray()
    for i in range(0, len(data), 64):
        ks = _block(key, counter + i // 64, nonce)
        chunk = data[i:i + 64]
        n = len(chunk)
        out += (int.from_bytes(chunk, "little") ^ int.from_bytes(ks[:n], "little")).to_bytes(n, "little")
    return bytes(out)


def hchacha20(key, nonce16):
    state = list(_SIGMA) + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    s = _rounds(state)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


# ---- Poly1305 and the AEAD (RFC 8439 sections 2.5 and 2.8) -----------------

def poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(msg), 16):
        n = int.from_bytes(msg[i:i + 16] + b"\x01", "little")
        acc = (acc + n) * r % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def _pad16(b):
    return b"\x00" * (-len(b) % 16)


def _tag(key, nonce, aad, ct):
    otk = _block(key, 0, nonce)[:32]
    mac = aad + _pad16(aad) + ct + _pad16(ct) + struct.pack("<QQ", len(aad), len(ct))
    return poly1305(otk, mac)


def aead_open(key, nonce, sealed, aad=b""):
    """ChaCha20-Poly1305 open: the plaintext, or None when the tag fails."""
    if len(sealed) < 16:
        return None
    ct, tag = sealed[:-16], sealed[-16:]
    if not hmac.compare_digest(_tag(key, nonce, aad, ct), tag):
        return None
    return chacha20(key, 1, nonce, ct)


def aead_seal(key, nonce, plaintext, aad=b""):
    ct = chacha20(key, 1, nonce, plaintext)
    return ct + _tag(key, nonce, aad, ct)


def xaead_open(key, nonce24, sealed, aad=b""):
    """XChaCha20-Poly1305 open."""
    sub = hchacha20(key, nonce24[:16])
    return aead_open(sub, b"\x00\x00\x00\x00" + nonce24[16:], sealed, aad)


# ---- HKDF-SHA256 and HMAC-SHA256 --------------------------------------------

def hmac_sha256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def hkdf(ikm, salt, info, n=32):
    prk = hmac_sha256(salt if salt else b"\x00" * 32, ikm)
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac_sha256(prk, t + info + bytes([i]))
        out += t
        i += 1
    return out[:n]


def _self_test():
    # RFC 7748 section 5.2, first vector.
    k = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    assert x25519(k, u).hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    # RFC 8439 section 2.8.2.
    key = bytes(range(0x80, 0xa0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
          b"the future, sunscreen would be it.")
    sealed = aead_seal(key, nonce, pt, aad)
    assert sealed[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"
    assert aead_open(key, nonce, sealed, aad) == pt
    # draft-irtf-cfrg-xchacha-03 section 2.2.1 (HChaCha20).
    hk = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    hn = bytes.fromhex("000000090000004a0000000031415927")
    assert hchacha20(hk, hn).hex() == "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"


_self_test()
