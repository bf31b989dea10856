"""Checks vault/testdata/audit against vault/doc.go ("Audit log"): an
auditor's verification of a vault's audit chain, written from the prose.

chains.json gives, for each vault, its audit keys (K_audit per key
generation) and what derives them: the password and the password wrap
(Argon2id, specs/argon2.py), and the sealed keys of earlier generations.
The checker derives the keys and compares. vectors.json gives states of
the store (the keys a verifier reads) and the verdicts of the check
without a key and of the keyed check; the checker runs both and compares.
"""

import hashlib
import json
import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import vectors  # noqa: E402
import xcrypto  # noqa: E402
from backup.check import Refused, open_master  # noqa: E402

MAX_RECORD = 8192
ZEROS = "0" * 64
BREAK_OP = "vault.audit.break"
KINDS = {"tail-deleted", "all-deleted", "head-rewound", "head-deleted", "record-changed", "foreign-record"}
L_AUDIT = b"ocmt-mesh/audit/v1"
L_LOCKED = b"ocmt-mesh/audit-locked/v1"
L_HEAD = b"ocmt-mesh/audit-head/v1"
L_SESSION = b"ocmt-mesh/audit-session/v1"
L_X25519 = b"ocmt-mesh/audit-x25519/v1"
L_HISTORY = b"ocmt-mesh/audit-history/v1"


def mac(key, label, msg):
    return xcrypto.hmac_sha256(key, label + b"\x00" + msg)


class Break(Exception):
    def __init__(self, kind, seq):
        super().__init__(kind, seq)
        self.kind, self.seq = kind, seq


# ---- Reading a stored record ----------------------------------------------

# The members, in the order of the encoding, with their type and whether
# the encoding omits them when zero.
FIELDS = [("seq", "u64", False), ("time", "time", False), ("actor", "str", False), ("op", "str", False),
          ("target", "str", True), ("outcome", "str", False), ("detail", "str", True), ("v", "i64", True),
          ("vault", "str", True), ("gen", "u32", True), ("locked", "bool", True), ("session", "str", True),
          ("prev", "str", False), ("hash", "str", False)]
ZERO = {"u64": 0, "u32": 0, "i64": 0, "str": "", "bool": False, "time": ("0001-01-01T00:00:00", 0, 0)}
RANGE = {"u64": (0, 2**64 - 1), "u32": (0, 2**32 - 1), "i64": (-2**63, 2**63 - 1)}


class Num(str):
    """A JSON number's literal."""


class Pairs(list):
    """A JSON object's members, in order."""


def fold(name):
    """A member name folded as doc.go says: ASCII letters to upper case,
    long s (U+017F) to S and the Kelvin sign (U+212A) to K; any other
    character never matches a field's name."""
    out = []
    for ch in name:
        if "a" <= ch <= "z":
            ch = ch.upper()
        elif ch == "\u017f":
            ch = "S"
        elif ch == "\u212a":
            ch = "K"
        out.append(ch)
    return "".join(out)


BY_FOLD = {fold(n): (n, t) for n, t, _ in FIELDS}
TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))$")


def parse_time(s):
    m = TIME.match(s)
    if not m:
        raise ValueError("time")
    y, mo, d, h, mi, sec, frac, z, sign, oh, om = m.groups()
    ns = int((frac or "0")[:9].ljust(9, "0"))
    off = 0 if z else (1 if sign == "+" else -1) * (int(oh) * 3600 + int(om) * 60)
    return ("%s-%s-%sT%s:%s:%s" % (y, mo, d, h, mi, sec), ns, off)


def encode_time(t):
    base, ns, off = t
    frac = ("." + ("%09d" % ns).rstrip("0")) if ns else ""
    if off == 0:
        zone = "Z"
    else:
        zone = "%s%02d:%02d" % ("+" if off > 0 else "-", abs(off) // 3600, abs(off) % 3600 // 60)
    return base + frac + zone


def parse_record(b):
    """The record's values, as doc.go's reading rules give them, or
    ValueError."""
    if len(b) > MAX_RECORD:
        raise ValueError("too large")
    text = b.decode("utf-8", errors="replace")
    dec = json.JSONDecoder(object_pairs_hook=Pairs, parse_int=Num, parse_float=Num,
                           parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    ws = " \t\n\r"
    i = len(text) - len(text.lstrip(ws))
    val, end = dec.raw_decode(text, i)
    rest = text[end:].lstrip(ws)
    if rest and rest[0] not in "]}":
        raise ValueError("trailing data")
    r = {n: ZERO[t] for n, t, _ in FIELDS}
    if not isinstance(val, Pairs):
        raise ValueError("not an object")
    for name, x in val:
        if fold(name) not in BY_FOLD:
            raise ValueError("unknown member %r" % name)
        field, typ = BY_FOLD[fold(name)]
        if x is None:
            continue
        if typ in RANGE:
            if not isinstance(x, Num) or not re.fullmatch(r"-?[0-9]+", x):
                raise ValueError("%s is not an integer" % field)
            lo, hi = RANGE[typ]
            if not lo <= int(x) <= hi or (typ != "i64" and x.startswith("-")):
                raise ValueError("%s out of range" % field)
            r[field] = int(x)
        elif typ == "bool":
            if not isinstance(x, bool):
                raise ValueError("%s is not a boolean" % field)
            r[field] = x
        elif typ == "time":
            if not isinstance(x, str) or isinstance(x, Num):
                raise ValueError("time is not text")
            r[field] = parse_time(x)
        else:
            if not isinstance(x, str) or isinstance(x, Num):
                raise ValueError("%s is not text" % field)
            r[field] = x
    if encode(r, True) != b:
        raise ValueError("not its canonical encoding")
    return r


def encode_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif c < 0x20 or ch in "<>&" or c in (0x2028, 0x2029):
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def encode(r, with_hash):
    """C(r): the canonical encoding; J when with_hash is false."""
    parts = []
    for name, typ, omit in FIELDS:
        x = r[name]
        if name == "hash" and not with_hash:
            x = ""
        if omit and x == ZERO[typ]:
            continue
        if typ == "time":
            x = encode_string(encode_time(x))
        elif typ == "str":
            x = encode_string(x)
        elif typ == "bool":
            x = "true" if x else "false"
        else:
            x = str(x)
        parts.append('"%s":%s' % (name, x))
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def chain_value(s):
    if not re.fullmatch(r"[0-9a-fA-F]{64}", s):
        return None
    return bytes.fromhex(s)


# ---- The check ------------------------------------------------------------

def open_session(k_audit, vault_id, gen, seq, sealed_hex):
    """K_s from a record's session field, or None."""
    if not re.fullmatch(r"([0-9a-fA-F]{2})*", sealed_hex):
        return None
    sealed = bytes.fromhex(sealed_hex)
    if len(sealed) < 32 + 24 + 16:
        return None
    priv = xcrypto.hkdf(k_audit, vault_id, L_X25519)
    pub = xcrypto.x25519(priv, (9).to_bytes(32, "little"))
    shared = xcrypto.x25519(priv, sealed[:32])
    if shared == bytes(32):
        return None
    key = xcrypto.hkdf(shared, sealed[:32] + pub, L_SESSION)
    aad = L_SESSION + vault_id + struct.pack(">IQ", gen, seq)
    ks = xcrypto.xaead_open(key, sealed[32:56], sealed[56:], aad)
    return ks if ks is not None and len(ks) == 32 else None


def verify(store, keys, index_tag):
    """The verdicts [(kind, seq)] of the check, keyed when keys is a dict
    (generation → K_audit)."""
    reported = []
    vault_hex, fmt = "", 0
    hb = store.get("/meta/header")
    if hb is not None:
        if len(hb) != 24 or hb[:8] not in (b"OCMTVLT\x01", b"OCMTVLT\x02"):
            return [("corrupt", 0)]
        fmt, vault_hex = hb[7], hb[8:].hex()
    vault_id = bytes.fromhex(vault_hex)
    entries = sorted((k, v) for k, v in store.items() if k.startswith("/audit/"))
    st = {"want": 1, "prev": bytes(32), "saw_v2": False, "has_sess": False, "session": None, "last_key": None}
    out = []

    def step(key, value):
        want = st["want"]
        name = key[len("/audit/"):]
        if len(name) != 16 or not re.fullmatch(r"[0-9a-fA-F]{16}", name):
            raise Break("record-changed", want)
        seq = int(name, 16)
        try:
            r = parse_record(value)
        except ValueError:
            raise Break("record-changed", seq)
        if r["seq"] != seq:
            raise Break("record-changed", seq)
        is_break = r["op"] == BREAK_OP
        gap = seq > want
        if gap and not is_break:
            raise Break("record-changed", want)
        if r["v"] == 0:
            if st["saw_v2"]:
                raise Break("record-changed", seq)
            if hashlib.sha256(L_AUDIT + b"\x00" + encode(r, False)).hexdigest() != r["hash"]:
                raise Break("record-changed", seq)
        elif r["v"] != 2:
            raise Break("record-changed", seq)
        else:
            st["saw_v2"] = True
            if vault_hex and r["vault"] != vault_hex:
                raise Break("foreign-record", seq)
        prev_ok = r["prev"] == st["prev"].hex() or (seq == 1 and r["prev"] == ZEROS)
        if not prev_ok and not gap and not is_break:
            raise Break("record-changed", seq)
        chain = chain_value(r["hash"])
        if chain is None:
            raise Break("record-changed", seq)
        tags(r, seq, chain)
        if is_break:
            reported.append((r["target"] if r["target"] in KINDS else "record-changed", seq))
        st["prev"], st["want"] = chain, seq + 1
        out.append(r)

    def tags(r, seq, chain):
        if r["v"] != 2:
            st["has_sess"], st["session"], st["last_key"] = False, None, None
            return
        j = encode(r, False)
        if not r["locked"]:
            st["has_sess"], st["session"] = False, None
            if keys is None:
                return
            k = keys.get(r["gen"])
            if k is None or mac(k, L_AUDIT, j) != chain:
                raise Break("record-changed", seq)
            st["last_key"] = k
            return
        if r["session"] == "" and not st["has_sess"]:
            raise Break("record-changed", seq)
        st["has_sess"] = True
        if keys is None:
            return
        if r["session"] != "":
            k = keys.get(r["gen"])
            ks = open_session(k, vault_id, r["gen"], seq, r["session"]) if k is not None else None
            if ks is None:
                raise Break("record-changed", seq)
            st["session"] = ks
        if mac(st["session"], L_LOCKED, j) != chain:
            raise Break("record-changed", seq)
        st["last_key"] = st["session"]

    def end(head):
        if head is None:
            if not out and not vault_hex:
                return
            if not out:
                raise Break("all-deleted", 1)
            raise Break("head-deleted", 0)
        if len(head) == 40:
            h = {"format": 1, "seq": struct.unpack(">Q", head[:8])[0], "chain": head[8:40]}
        elif len(head) == 112 and head[:8] == b"OCMTAHD\x02":
            h = {"format": 2, "seq": struct.unpack(">Q", head[8:16])[0], "chain": head[16:48],
                 "index": head[48:80], "tag": head[80:112]}
        else:
            raise Break("head-deleted", 0)
        if h["seq"] == 0:
            raise Break("head-deleted", 0)
        if not out:
            raise Break("all-deleted", 1)
        last = out[-1]["seq"]
        if h["seq"] > last:
            raise Break("tail-deleted", last + 1)
        if h["seq"] < last:
            raise Break("head-rewound", 0)
        if h["chain"] != st["prev"]:
            raise Break("record-changed", last)
        if fmt == 2 and h["format"] != 2:
            raise Break("head-rewound", 0)
        if fmt == 2 and out[-1]["v"] != 2:
            raise Break("tail-deleted", last + 1)
        if keys is None or h["format"] != 2:
            return
        if st["last_key"] is None:
            raise Break("head-rewound", 0)
        signed = vault_id + struct.pack(">Q", h["seq"]) + h["chain"] + h["index"]
        if mac(st["last_key"], L_HEAD, signed) != h["tag"]:
            raise Break("head-rewound", 0)
        if h["index"] != index_tag:
            raise Break("head-rewound", 0)

    try:
        for k, v in entries:
            step(k, v)
        end(store.get("/meta/audit-head"))
    except Break as b:
        return reported + [(b.kind, b.seq)]
    return reported


# ---- The keys -------------------------------------------------------------

def chain_keys(c):
    """K_audit of every generation, from the password (doc.go "Keys",
    "Password wrap", "Key rotation")."""
    vault_id, wrap = bytes.fromhex(c["vault_id"]), bytes.fromhex(c["wrap"])
    try:
        m = open_master([("password", wrap)], vault_id, c["password"].encode())
    except Refused as e:
        raise AssertionError("the password does not open the wrap: %s" % e)
    gen = struct.unpack(">I", wrap[34:38])[0]
    keys = {gen: xcrypto.hkdf(m, vault_id, L_AUDIT)}
    if c.get("audit_keys"):
        blob = bytes.fromhex(c["audit_keys"])
        assert blob[:8] == b"OCMTAKH\x01"
        k_hist = xcrypto.hkdf(m, vault_id, L_HISTORY)
        pt = xcrypto.xaead_open(k_hist, blob[8:32], blob[32:], L_HISTORY + vault_id + struct.pack(">I", gen))
        assert pt is not None and len(pt) % 36 == 0, "the audit key history does not open"
        for i in range(0, len(pt), 36):
            keys[struct.unpack(">I", pt[i:i + 4])[0]] = pt[i + 4:i + 36]
    return keys


def check_chain(c, derived):
    given = {int(g): bytes.fromhex(k) for g, k in c["keys"].items()}
    return None if given == derived else "derived keys %r, given %r" % (
        {g: k.hex() for g, k in derived.items()}, c["keys"])


def check_vector(v, keys):
    store = {k: bytes.fromhex(h) for k, h in v["meta"].items()}
    store.update({k: t.encode("utf-8") for k, t in v["audit"].items()})
    idx = store.get("/meta/index", b"")
    index_tag = idx[24:56] if len(idx) == 56 and idx[:8] == b"OCMTIDX\x01" else bytes(32)
    want_s = [(x["break"], x["seq"]) for x in v["structure"]]
    want_k = [(x["break"], x["seq"]) for x in v["keyed"]]
    got_s = verify(store, None, index_tag)
    got_k = verify(store, keys[v["chain"]], index_tag)
    bad = []
    if got_s != want_s:
        bad.append("without a key %r, want %r" % (got_s, want_s))
    if got_k != want_k:
        bad.append("keyed %r, want %r" % (got_k, want_k))
    return "; ".join(bad) or None


def run(rep):
    """Checks the chains' keys and every vector into rep (a vectors.Report)."""
    keys = {}
    for c in vectors.load("vault/testdata/audit/chains.json"):
        keys[c["name"]] = chain_keys(c)
        rep.check("chains.json: " + c["name"], check_chain, c, keys[c["name"]])
    for v in vectors.load("vault/testdata/audit/vectors.json"):
        rep.check("vectors.json: " + v["name"], check_vector, v, keys)


if __name__ == "__main__":
    r = vectors.Report("vaultaudit")
    run(r)
    r.finish()
