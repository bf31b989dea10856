#!/usr/bin/env python3
"""Checks that the vectors pin every rule verify.py implements.

Each mutant below is verify.py with one rule of capability/doc.go dropped,
loosened or misread the way an implementer plausibly might (count
characters instead of bytes, verify cofactored, truncate actions to a byte,
check the depth after the parent, ...). A vector set that lets a mutant
agree with every vector leaves that rule unpinned. Usage:

    python3 -B specs/tokens/mutants.py [capability/testdata/vectors.json]

Exit status 0 when every mutant disagrees with at least one vector, 1 when
one survives, 2 on a usage or file error. Mutants share verify.py's
signature cache, so the whole run costs a few plain runs.
"""

import json
import os
import sys
import time
from functools import lru_cache

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify as V  # noqa: E402

MUTANTS = []


def mutant(name):
    def register(f):
        MUTANTS.append((name, f))
        return f
    return register


class Patch:
    """Sets module attributes for one run and restores them after."""

    def __init__(self):
        self.saved = []

    def set(self, name, value):
        self.saved.append((name, getattr(V, name)))
        setattr(V, name, value)

    def restore(self):
        for name, value in reversed(self.saved):
            setattr(V, name, value)


# --- Text form ---------------------------------------------------------------

@mutant("text cap counted in characters, not UTF-8 bytes")
def _(p):
    orig = V.parse_text

    def parse(text):
        if len(text) > V.MAX_TEXT_LEN:
            raise V.Refused("ErrTooLarge", "")
        saved = V.MAX_TEXT_LEN
        V.MAX_TEXT_LEN = 1 << 30
        try:
            return orig(text)
        finally:
            V.MAX_TEXT_LEN = saved
    p.set("parse_text", parse)


@mutant("white space trimmed around the text")
def _(p):
    orig = V.parse_text
    p.set("parse_text", lambda text: orig(text.strip()))


@mutant("white space ignored inside the text")
def _(p):
    orig = V.parse_text
    p.set("parse_text", lambda text: orig("".join(text.split())))


@mutant("padding accepted")
def _(p):
    orig = V.parse_text
    p.set("parse_text", lambda text: orig(text.rstrip("=")))


@mutant("prefix compared without case")
def _(p):
    orig = V.parse_text
    p.set("parse_text", lambda text: orig("ocmt1." + text[6:] if text[:6].lower() == "ocmt1." else text))


@mutant("stray bits ignored")
def _(p):
    orig = V.parse_text

    def parse(text):
        body = text[6:]
        n = len(body)
        if text.startswith("ocmt1.") and n % 4 in (2, 3) and body[-1:] in V.B64URL.decode():
            v = V.B64URL.decode().index(body[-1])
            v &= ~((1 << ((6 * n) % 8)) - 1)
            text = text[:-1] + V.B64URL.decode()[v]
        return orig(text)
    p.set("parse_text", parse)


@mutant("a dangling last character (length 1 mod 4) dropped")
def _(p):
    orig = V.parse_text
    p.set("parse_text", lambda text: orig(text[:-1] if (len(text) - 6) % 4 == 1 else text))


@mutant("standard base64 alphabet accepted too")
def _(p):
    orig = V.parse_text
    p.set("parse_text", lambda text: orig(text.replace("+", "-").replace("/", "_")))


# --- Encoding ----------------------------------------------------------------

@mutant("heads not required to be shortest")
def _(p):
    orig = V.read_head

    def head(b, i):
        if i < len(b) and 24 <= b[i] & 0x1F <= 27:
            n = 1 << ((b[i] & 0x1F) - 24)
            if i + 1 + n <= len(b):
                return b[i] >> 5, int.from_bytes(b[i + 1:i + 1 + n], "big"), i + 1 + n
        return orig(b, i)
    p.set("read_head", head)


@mutant("map keys in any order, repeats included")
def _(p):
    p.set("decode_map", _any_order_map(V.decode_map))


def _any_order_map(orig):
    def decode_map(b, fields):
        try:
            return orig(b, fields)
        except V.Refused as e:
            if "increasing" not in str(e):
                raise
        out, i = {}, 0
        _, count, i = V.read_head(b, 0)
        for _ in range(count):
            _, key, i = V.read_head(b, i)
            vmajor, arg, i = V.read_head(b, i)
            if vmajor == 0:
                out[key] = arg
            else:
                val = bytes(b[i:i + arg])
                i += arg
                out[key] = val.decode() if vmajor == 3 else val
        return out
    return decode_map


@mutant("unknown keys ignored")
def _(p):
    fields = dict(V.PAYLOAD_FIELDS)
    orig = V.decode_map

    def decode_map(b, f):
        if f is not V.PAYLOAD_FIELDS:
            return orig(b, f)
        wide = dict(fields)
        for k in range(12, 24):
            wide[k] = V.UINT
        out = orig(b, wide)
        return {k: v for k, v in out.items() if k in fields}
    p.set("decode_map", decode_map)


@mutant("an explicit zero or empty optional field read as absent")
def _(p):
    orig = V.decode_map

    def decode_map(b, f):
        out = orig(b, f)
        if f is V.PAYLOAD_FIELDS:
            for k in (9, 10, 11):
                if k in out and not out[k]:
                    del out[k]
        return out
    p.set("decode_map", decode_map)


@mutant("no envelope byte cap")
def _(p):
    p.set("MAX_TOKEN_BYTES", 1 << 30)


# --- Fields ------------------------------------------------------------------

@mutant("actions and ceiling truncated to one byte")
def _(p):
    orig = V.decode_map

    def decode_map(b, f):
        out = orig(b, f)
        if f is V.PAYLOAD_FIELDS:
            for k in (5, 10):
                if k in out:
                    out[k] &= 0xFF
        return out
    p.set("decode_map", decode_map)


@mutant("unknown bits allowed in a ceiling (ignored)")
def _(p):
    orig = V.decode_map

    def decode_map(b, f):
        out = orig(b, f)
        if f is V.PAYLOAD_FIELDS and out.get(10, 0) & ~0x7F and out[10] & 0x7F:
            out[10] &= 0x7F
        return out
    p.set("decode_map", decode_map)


@mutant("unknown bits allowed in actions (ignored)")
def _(p):
    orig = V.decode_map

    def decode_map(b, f):
        out = orig(b, f)
        if f is V.PAYLOAD_FIELDS and out.get(5, 0) & ~0x7F and out[5] & 0x7F:
            out[5] &= 0x7F
        return out
    p.set("decode_map", decode_map)


@mutant("expiry allowed through the end of 9999-12-31T23:59:59 (≤ 253402300800)")
def _(p):
    p.set("MAX_EXPIRY", V.MAX_EXPIRY + 1)


@mutant("max-uses cap one lower")
def _(p):
    p.set("MAX_MAX_USES", V.MAX_MAX_USES - 1)


@mutant("max-uses cap one higher")
def _(p):
    p.set("MAX_MAX_USES", V.MAX_MAX_USES + 1)


@mutant("expiry equal to not-before accepted")
def _(p):
    orig = V.decode_map

    def decode_map(b, f):
        out = orig(b, f)
        if f is V.PAYLOAD_FIELDS and 6 in out and 7 in out and out[6] == out[7]:
            out[6] -= 1
        return out
    p.set("decode_map", decode_map)


# --- Peer IDs and keys -------------------------------------------------------

@mutant("small-order keys accepted")
def _(p):
    p.set("SMALL_ORDER_Y", set())


@mutant("small-order keys refused only with the sign bit clear")
def _(p):
    orig = V.peer_key

    def peer_key(pid):
        if len(pid) == 38 and pid[-1] & 0x80:
            saved = V.SMALL_ORDER_Y
            V.SMALL_ORDER_Y = set()
            try:
                return orig(pid)
            finally:
                V.SMALL_ORDER_Y = saved
        return orig(pid)
    p.set("peer_key", peer_key)


@mutant("non-canonical keys (y ≥ p) accepted and reduced")
def _(p):
    orig = V.peer_key

    def peer_key(pid):
        if len(pid) == 38:
            key = pid[6:]
            n = int.from_bytes(key, "little")
            y, sign = n & ((1 << 255) - 1), n >> 255
            if y >= V.P:
                y -= V.P
                return orig(pid[:6] + (y | sign << 255).to_bytes(32, "little"))
        return orig(pid)
    p.set("peer_key", peer_key)


@mutant("keys that are no curve point refused at decoding")
def _(p):
    orig = V.peer_key

    def peer_key(pid):
        key = orig(pid)
        if V.decode_point(bytes(key)) is None:
            raise V.malformed("off curve")
        return key
    p.set("peer_key", peer_key)


# --- Signatures --------------------------------------------------------------

@lru_cache(maxsize=None)
def _cofactored(key, msg, sig):
    s = int.from_bytes(sig[32:], "little")
    a, r = V.decode_point(key), V.decode_point(sig[:32])
    if s >= V.L or a is None or r is None:
        return False
    k = int.from_bytes(V.hashlib.sha512(sig[:32] + key + msg).digest(), "little") % V.L
    d = V.point_add(V.double_scalar_mult(s, V.BASE, k, V.point_neg(a)), V.point_neg(r))
    for _ in range(3):
        d = V.point_double(d)
    return V.encode_point(d) == V.encode_point(V.IDENTITY)


@lru_cache(maxsize=None)
def _prime_order(key):
    a = V.decode_point(key)
    return a is not None and V.encode_point(V.double_scalar_mult(V.L, a, 0, V.IDENTITY)) == V.encode_point(V.IDENTITY)


@mutant("cofactored verification ([8][S]B = [8]R + [8][k]A)")
def _(p):
    p.set("ed25519_holds", _cofactored)


@mutant("S reduced mod ℓ instead of refused")
def _(p):
    orig = V.ed25519_holds

    def holds(key, msg, sig):
        s = int.from_bytes(sig[32:], "little") % V.L
        return orig(key, msg, sig[:32] + s.to_bytes(32, "little"))
    p.set("ed25519_holds", holds)


@mutant("R decoded leniently (y mod p, sign bit on x = 0 ignored) and compared as a point")
def _(p):
    orig = V.ed25519_holds

    def holds(key, msg, sig):
        if orig(key, msg, sig):
            return True
        n = int.from_bytes(sig[:32], "little")
        y, sign = (n & ((1 << 255) - 1)) % V.P, n >> 255
        if y in (1, V.P - 1):
            sign = 0
        canon = (y | sign << 255).to_bytes(32, "little")
        s = int.from_bytes(sig[32:], "little")
        a = V.decode_point(key)
        if canon == sig[:32] or s >= V.L or a is None:
            return False
        k = int.from_bytes(V.hashlib.sha512(sig[:32] + key + msg).digest(), "little") % V.L
        return V.encode_point(V.double_scalar_mult(s, V.BASE, k, V.point_neg(a))) == canon
    p.set("ed25519_holds", holds)


@mutant("R of small order refused")
def _(p):
    orig = V.ed25519_holds

    def holds(key, msg, sig):
        y = int.from_bytes(sig[:32], "little") & ((1 << 255) - 1)
        return y not in V.SMALL_ORDER_Y and orig(key, msg, sig)
    p.set("ed25519_holds", holds)


@mutant("keys of mixed order refused")
def _(p):
    orig = V.ed25519_holds

    def holds(key, msg, sig):
        return _prime_order(key) and orig(key, msg, sig)
    p.set("ed25519_holds", holds)


# --- Resources ---------------------------------------------------------------

@mutant("'**' matches zero segments too")
def _(p):
    orig = V.within

    def within(c, pat):
        if pat and pat[-1] == "**" and len(c) == len(pat) - 1 and orig(c + ["x"], pat):
            return True
        return orig(c, pat)
    p.set("within", within)


@mutant("containment decided by the paths that fit the caps")
def _(p):
    orig = V.within

    def within(c, pat):
        if len(c) == V.MAX_RESOURCE_SEGMENTS and c[-1] == "**":
            c = c[:-1] + ["*"]  # under the caps a 16th "**" is one segment
        return orig(c, pat)
    p.set("within", within)


@mutant("'*' in a parent covers '**' in a child")
def _(p):
    orig = V.within

    def within(c, pat):
        return orig([("*" if s == "**" else s) for s in c], pat)
    p.set("within", within)


for _name, _value in [("MAX_RESOURCE_LEN", 1), ("MAX_RESOURCE_SEGMENTS", 1), ("MAX_SEGMENT_LEN", 1)]:
    for _delta in (-1, 1):
        def _make(name=_name, delta=_delta):
            @mutant(f"{name} off by {delta:+d}")
            def _(p):
                p.set(name, getattr(V, name) + delta)
        _make()


@mutant("dot-only segments other than '.' and '..' accepted")
def _(p):
    orig = V.segments

    def segments(s, wildcards):
        got = orig(s, wildcards)
        if got is None and s and "..." in s.split("/"):
            return orig(s.replace("...", "x"), wildcards) and s.split("/")
        return got
    p.set("segments", segments)


# --- Plain rules and the other limits ---------------------------------------

for _name in ("MAX_TEXT_LEN", "MAX_TOKEN_BYTES", "MAX_DEPTH"):
    for _delta in (-1, 1):
        def _make(name=_name, delta=_delta):
            @mutant(f"{name} off by {delta:+d}")
            def _(p):
                p.set(name, getattr(V, name) + delta)
        _make()


@mutant("text cap checked after the prefix")
def _(p):
    orig = V.parse_text

    def parse(text):
        if not text.startswith("ocmt1."):
            raise V.malformed("prefix")
        return orig(text)
    p.set("parse_text", parse)


@mutant("a ceiling may hold delete, admin or share")
def _(p):
    p.set("NOT_IN_CEILING", 0)


@mutant("any version accepted")
def _(p):
    orig = V.decode_map

    def decode_map(b, f):
        out = orig(b, f)
        if f is V.PAYLOAD_FIELDS and 1 in out:
            out[1] = V.VERSION
        return out
    p.set("decode_map", decode_map)


@mutant("nonce length unchecked")
def _(p):
    orig = V.decode_map

    def decode_map(b, f):
        out = orig(b, f)
        if f is V.PAYLOAD_FIELDS and 8 in out:
            out[8] = bytes(V.NONCE_SIZE)
        return out
    p.set("decode_map", decode_map)


@mutant("revocations ignored")
def _(p):
    orig = V.verify
    p.set("verify", lambda leaf, remote, owner, path, acts, now, revoked, spent:
          orig(leaf, remote, owner, path, acts, now, set(), spent))


@mutant("budgets ignored")
def _(p):
    orig = V.verify
    p.set("verify", lambda leaf, remote, owner, path, acts, now, revoked, spent:
          orig(leaf, remote, owner, path, acts, now, revoked, {}))


# --- Decoding order and chains ----------------------------------------------

@mutant("depth checked on the chain length after decoding every parent")
def _(p):
    orig = V.decode

    def decode(raw, position=1):
        saved = V.MAX_DEPTH
        V.MAX_DEPTH = 1 << 30
        try:
            tok = orig(raw, position)
        finally:
            V.MAX_DEPTH = saved
        if position == 1 and len(V.chain_of(tok)) > V.MAX_DEPTH:
            raise V.Refused("ErrTooDeep", "")
        return tok
    p.set("decode", decode)


@mutant("depth checked before the token's own fields")
def _(p):
    orig = V.decode

    def decode(raw, position=1):
        if position == V.MAX_DEPTH:
            try:
                env = V.decode_map(raw, V.ENVELOPE_FIELDS)
                pl = V.decode_map(env.get(1, b""), V.PAYLOAD_FIELDS)
                if 11 in pl:
                    raise V.Refused("ErrTooDeep", "")
            except V.Refused as e:
                if e.name == "ErrTooDeep":
                    raise
        return orig(raw, position)
    p.set("decode", decode)


@mutant("link rules checked leaf first")
def _(p):
    orig = V.verify

    def verify(leaf, remote, owner, path, action_names, now, revoked, uses_spent):
        chain = V.chain_of(leaf)
        for t in chain:
            if not V.ed25519_holds(t.issuer_key, V.TOKEN_LABEL + b"\x00" + t.payload, t.sig):
                raise V.Refused("ErrBadSignature", "")
        for parent, t in reversed(list(zip(chain, chain[1:]))):
            if t.issuer != parent.audience:
                raise V.Refused("ErrBrokenChain", "")
            if not parent.actions & V.SHARE:
                raise V.Refused("ErrNoShare", "")
        return orig(leaf, remote, owner, path, action_names, now, revoked, uses_spent)
    p.set("verify", verify)


@mutant("time checked before ceilings")
def _(p):
    orig = V.verify

    def verify(leaf, remote, owner, path, action_names, now, revoked, uses_spent):
        for t in V.chain_of(leaf):
            if now + V.DEFAULT_SKEW < t.not_before:
                raise V.Refused("ErrNotYetValid", "")
            if now - V.DEFAULT_SKEW >= t.expiry:
                raise V.Refused("ErrExpired", "")
        return orig(leaf, remote, owner, path, action_names, now, revoked, uses_spent)
    p.set("verify", verify)


@mutant("skew window closed at expiry + skew (inclusive)")
def _(p):
    orig = V.verify

    def verify(leaf, remote, owner, path, action_names, now, revoked, uses_spent):
        for t in V.chain_of(leaf):
            if now - V.DEFAULT_SKEW == t.expiry:
                now -= 1
        return orig(leaf, remote, owner, path, action_names, now, revoked, uses_spent)
    p.set("verify", verify)


@mutant("skew window opened after not-before − skew (exclusive)")
def _(p):
    orig = V.verify

    def verify(leaf, remote, owner, path, action_names, now, revoked, uses_spent):
        for t in V.chain_of(leaf):
            if now + V.DEFAULT_SKEW == t.not_before:
                raise V.Refused("ErrNotYetValid", "")
        return orig(leaf, remote, owner, path, action_names, now, revoked, uses_spent)
    p.set("verify", verify)


@mutant("only the leaf's budget spent")
def _(p):
    orig = V.verify

    def verify(leaf, remote, owner, path, action_names, now, revoked, uses_spent):
        chain = V.chain_of(leaf)
        saved = [(t, t.max_uses) for t in chain[:-1]]
        for t, _ in saved:
            t.max_uses = None
        try:
            return orig(leaf, remote, owner, path, action_names, now, revoked, uses_spent)
        finally:
            for t, m in saved:
                t.max_uses = m
    p.set("verify", verify)


@mutant("a request may name several granted actions")
def _(p):
    orig = V.verify

    def verify(leaf, remote, owner, path, action_names, now, revoked, uses_spent):
        return orig(leaf, remote, owner, path, action_names.split(",")[0], now, revoked, uses_spent)
    p.set("verify", verify)


def main(argv):
    args = argv[1:] or [V.DEFAULT_VECTORS]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            vectors = json.load(f)
    except (OSError, ValueError) as e:
        print(f"mutants.py: {e}", file=sys.stderr)
        return 2
    start = time.monotonic()
    V.self_test()
    base = [v for v in vectors if V.run(v) != v["want"]]
    if base:
        print(f"mutants.py: verify.py itself disagrees with {len(base)} vectors; run verify.py")
        return 1
    survivors = 0
    for name, apply in MUTANTS:
        p = Patch()
        apply(p)
        try:
            caught = [v["name"] for v in vectors if V.run(v) != v["want"]]
        finally:
            p.restore()
        if not caught:
            survivors += 1
            print(f"SURVIVES {name}: no vector tells it from the spec")
        else:
            print(f"caught   {name}: {len(caught)} vectors, e.g. {caught[0]!r}")
    took = time.monotonic() - start
    print(f"mutants.py: {len(MUTANTS) - survivors} of {len(MUTANTS)} mutants caught ({took:.1f} s)")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
