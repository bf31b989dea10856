"""Argon2id (RFC 9106, version 0x13) in pure Python, standard library
only (hashlib's BLAKE2b does the hashing; the compression function G is
written here from section 3.5). Slow: about a millisecond per 1 KiB block,
so it is for the tiny parameters the vectors record (the vault's test
parameters: t = 1, m = 64 KiB, p = 1), not for real passwords.
"""

import hashlib
import struct

VERSION = 0x13
ARGON2ID = 2
_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1


def _le32(n):
    return struct.pack("<I", n)


def _blake2b(data, n):
    return hashlib.blake2b(data, digest_size=n).digest()


def _h_prime(x, n):
    """H' of section 3.3: a variable-length hash of n bytes."""
    if n <= 64:
        return _blake2b(_le32(n) + x, n)
    r = -(-n // 32) - 2
    v = _blake2b(_le32(n) + x, 64)
    out = [v[:32]]
    for _ in range(1, r):
        v = _blake2b(v, 64)
        out.append(v[:32])
    out.append(_blake2b(v, n - 32 * r))
    return b"".join(out)


def _gb(v, a, b, c, d):
    va, vb, vc, vd = v[a], v[b], v[c], v[d]
    va = (va + vb + 2 * (va & _M32) * (vb & _M32)) & _M64
    vd ^= va
    vd = (vd >> 32 | vd << 32) & _M64
    vc = (vc + vd + 2 * (vc & _M32) * (vd & _M32)) & _M64
    vb ^= vc
    vb = (vb >> 24 | vb << 40) & _M64
    va = (va + vb + 2 * (va & _M32) * (vb & _M32)) & _M64
    vd ^= va
    vd = (vd >> 16 | vd << 48) & _M64
    vc = (vc + vd + 2 * (vc & _M32) * (vd & _M32)) & _M64
    vb ^= vc
    vb = (vb >> 63 | vb << 1) & _M64
    v[a], v[b], v[c], v[d] = va, vb, vc, vd


def _p(v, idx):
    """The permutation P on the 16 words v[idx[0]], ..., v[idx[15]]."""
    i = idx
    _gb(v, i[0], i[4], i[8], i[12])
    _gb(v, i[1], i[5], i[9], i[13])
    _gb(v, i[2], i[6], i[10], i[14])
    _gb(v, i[3], i[7], i[11], i[15])
    _gb(v, i[0], i[5], i[10], i[15])
    _gb(v, i[1], i[6], i[11], i[12])
    _gb(v, i[2], i[7], i[8], i[13])
    _gb(v, i[3], i[4], i[9], i[14])


# A block is 128 64-bit words; as an 8x8 matrix of 16-byte registers,
# row r is words 16r..16r+15 and column c the registers c, c+8, ..., c+56,
# register k being words 2k and 2k+1.
_ROWS = [list(range(16 * r, 16 * r + 16)) for r in range(8)]
_COLS = [[w for k in range(c, 64, 8) for w in (2 * k, 2 * k + 1)] for c in range(8)]


def _g(x, y):
    """The compression function G(X, Y) of section 3.5."""
    r = [a ^ b for a, b in zip(x, y)]
    q = list(r)
    for idx in _ROWS:
        _p(q, idx)
    for idx in _COLS:
        _p(q, idx)
    return [a ^ b for a, b in zip(q, r)]


def _words(b):
    return list(struct.unpack("<128Q", b))


def argon2id(password, salt, t, m, p, n=32, secret=b"", ad=b""):
    """Argon2id tag of n bytes: t passes, m KiB of memory, p lanes."""
    h0 = _blake2b(b"".join([
        _le32(p), _le32(n), _le32(m), _le32(t), _le32(VERSION), _le32(ARGON2ID),
        _le32(len(password)), password, _le32(len(salt)), salt,
        _le32(len(secret)), secret, _le32(len(ad)), ad]), 64)
    m2 = 4 * p * (m // (4 * p))
    q = m2 // p
    seg = q // 4
    mem = [[None] * q for _ in range(p)]
    for lane in range(p):
        mem[lane][0] = _words(_h_prime(h0 + _le32(0) + _le32(lane), 1024))
        mem[lane][1] = _words(_h_prime(h0 + _le32(1) + _le32(lane), 1024))
    zero = [0] * 128
    for ps in range(t):
        for sl in range(4):
            for lane in range(p):
                independent = ps == 0 and sl < 2
                addresses, counter = None, 0
                start = 2 if ps == 0 and sl == 0 else 0
                for i in range(start, seg):
                    j = sl * seg + i
                    prev = mem[lane][j - 1] if j > 0 else mem[lane][q - 1]
                    if independent:
                        if addresses is None or i % 128 == 0:
                            counter += 1
                            inp = [ps, lane, sl, m2, t, ARGON2ID, counter] + [0] * 121
                            addresses = _g(zero, _g(zero, inp))
                        rand = addresses[i % 128]
                    else:
                        rand = prev[0]
                    j1, j2 = rand & _M32, rand >> 32
                    ref_lane = lane if ps == 0 and sl == 0 else j2 % p
                    same = ref_lane == lane
                    if ps == 0:
                        area = sl * seg + (i - 1 if same else (-1 if i == 0 else 0))
                        begin = 0
                    else:
                        area = q - seg + (i - 1 if same else (-1 if i == 0 else 0))
                        begin = 0 if sl == 3 else (sl + 1) * seg
                    x = (j1 * j1) >> 32
                    y = (area * x) >> 32
                    z = (begin + area - 1 - y) % q
                    new = _g(prev, mem[ref_lane][z])
                    if ps > 0:
                        new = [a ^ b for a, b in zip(new, mem[lane][j])]
                    mem[lane][j] = new
    c = mem[0][q - 1]
    for lane in range(1, p):
        c = [a ^ b for a, b in zip(c, mem[lane][q - 1])]
    return _h_prime(struct.pack("<128Q", *c), n)


def _self_test():
    # RFC 9106 section 5.3.
    tag = argon2id(b"\x01" * 32, b"\x02" * 16, 3, 32, 4, 32, secret=b"\x03" * 8, ad=b"\x04" * 12)
    assert tag.hex() == "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659", tag.hex()


_self_test()
