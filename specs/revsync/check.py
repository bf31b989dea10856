"""Checks the anti-entropy formats against their specifications:

  protocols/revgossip/testdata/digests.json  the Digest of
      protocols/revgossip/doc.go ("Anti-entropy"): the strict decode, every
      rule of its table, and the Bloom filter's bits for the IDs a vector
      lists;
  protocols/revsync/testdata/push.json       revsync's batch push
      (protocols/revsync/doc.go): the server's judgement of each pushed
      record, in order, and the client's reading of a PushReply.

Records are judged as capability/revocation/doc.go specifies them
(envelope, payload, proof, standing, signature, the proof's chain through
specs/tokenlib.py), and held and expired as the batch push's steps say.
"""

import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import ed25519  # noqa: E402
import peerid  # noqa: E402
import tokenlib  # noqa: E402
import vectors  # noqa: E402

# ---- the digest (protocols/revgossip/doc.go, "Anti-entropy") ------------

MAX_DIGEST_IDS = 4096
MAX_DIGEST_HASHES = 16
MAX_DIGEST_FILTER = 8192
MAX_DIGEST_BYTES = 8448

DIGEST = cbor.Msg("digest", [
    (1, "epoch", cbor.BYTES, True),
    (2, "head", cbor.UINT, True),
    (3, "count", cbor.UINT, True),
    (4, "from", cbor.UINT, True),
    (5, "ids", cbor.UINT, True),
    (6, "hashes", cbor.UINT, False),
    (7, "salt", cbor.BYTES, False),
    (8, "filter", cbor.BYTES, False),
])


class BadDigest(Exception):
    pass


def decode_digest(data):
    if len(data) > MAX_DIGEST_BYTES:
        raise BadDigest("%d bytes" % len(data))
    try:
        d = cbor.decode(data, DIGEST)
    except cbor.Malformed as e:
        raise BadDigest(str(e))
    if len(d["epoch"]) != 8:
        raise BadDigest("epoch of %d bytes" % len(d["epoch"]))
    if d["from"] > d["head"]:
        raise BadDigest("from past head")
    if d["ids"] > MAX_DIGEST_IDS or d["ids"] > d["head"] - d["from"] or d["ids"] > d["count"]:
        raise BadDigest("ids out of range")
    rest = [k for k in ("hashes", "salt", "filter") if k in d]
    if d["ids"] == 0:
        if rest:
            raise BadDigest("an empty window with %s" % rest)
        return d
    if len(rest) != 3:
        raise BadDigest("ids > 0 without all of hashes, salt, filter")
    if not 1 <= d["hashes"] <= MAX_DIGEST_HASHES:
        raise BadDigest("%d hashes" % d["hashes"])
    if len(d["salt"]) != 8:
        raise BadDigest("salt of %d bytes" % len(d["salt"]))
    n = len(d["filter"])
    if n == 0 or n % 8 or n > MAX_DIGEST_FILTER:
        raise BadDigest("filter of %d bytes" % n)
    return d


def has(d, ident):
    """Whether the digest's filter has the 32-byte ID."""
    if d["ids"] == 0:
        return False
    h = hashlib.sha256(d["salt"] + ident).digest()
    h1 = int.from_bytes(h[0:8], "little")
    h2 = int.from_bytes(h[8:16], "little") | 1
    m = 8 * len(d["filter"])
    for i in range(d["hashes"]):
        j = ((h1 + i * h2) % 2**64) % m
        if not d["filter"][j // 8] >> (j % 8) & 1:
            return False
    return True


def check_digest(v):
    try:
        d = decode_digest(bytes.fromhex(v["hex"]))
    except BadDigest as e:
        return None if v["want"] == "ErrBadDigest" else "refused (%s), want %s" % (e, v["want"])
    if v["want"] != "ok":
        return "decoded, want %s" % v["want"]
    for key, want in (("has", True), ("has_not", False)):
        for h in v.get(key, []):
            if has(d, bytes.fromhex(h)) != want:
                return "filter has %s: %s, want %s" % (h[:12], not want, want)
    return None


# ---- revocation records (capability/revocation/doc.go) ------------------

MAX_TOKEN = 4096
MAX_PAYLOAD = MAX_TOKEN + 256
MAX_RECORD = MAX_PAYLOAD + 128
LABEL = b"ocmt-mesh/revocation/v1"
MAX_UNIX = 253402300799
SKEW = 300  # capability.MaxSkew: an entry is kept until expiry + skew

ENVELOPE = cbor.Msg("envelope", [(1, "payload", cbor.BYTES, True), (2, "signature", cbor.BYTES, True)])
PAYLOAD = cbor.Msg("payload", [
    (1, "version", cbor.UINT, True),
    (2, "token", cbor.BYTES, True),
    (3, "revoker", cbor.BYTES, True),
    (4, "time", cbor.INT, True),
    (5, "expiry", cbor.INT, True),
    (6, "proof", cbor.BYTES, True),
])


class Invalid(Exception):
    pass


def decode_record(raw):
    """The payload of a record that passes the checks that need no
    signature (size, canonical form, proof identity, standing)."""
    if len(raw) > MAX_RECORD:
        raise Invalid("record too large")
    try:
        env = cbor.decode(raw, ENVELOPE)
        if len(env["signature"]) != 64 or len(env["payload"]) > MAX_PAYLOAD:
            raise Invalid("envelope")
        p = cbor.decode(env["payload"], PAYLOAD)
    except cbor.Malformed as e:
        raise Invalid(str(e))
    if p["version"] != 1 or len(p["token"]) != 32 or peerid.problem(p["revoker"]):
        raise Invalid("payload fields")
    if not (0 < p["time"] <= MAX_UNIX and 0 < p["expiry"] <= MAX_UNIX):
        raise Invalid("times")
    if len(p["proof"]) > MAX_TOKEN or hashlib.sha256(p["proof"]).digest() != p["token"]:
        raise Invalid("proof is not the token")
    try:
        if tokenlib.expiry(p["proof"]) != p["expiry"]:
            raise Invalid("expiry is not the proof's")
        if p["revoker"] not in tokenlib.issuers(p["proof"]):
            raise Invalid("revoker has no standing")
    except tokenlib.Refused as e:
        raise Invalid("proof: %s" % e)
    return env, p


def verify_record(env, p):
    if not ed25519.verify(peerid.key(p["revoker"]), LABEL + b"\x00" + env["payload"], env["signature"]):
        raise Invalid("signature")
    problem = tokenlib.check(p["proof"], tokenlib.not_before(p["proof"]))
    if problem:
        raise Invalid("proof chain: %s" % problem)


# ---- the batch push (protocols/revsync/doc.go) ---------------------------

MAX_PUSH = 16
RESULTS = ["Added", "Held", "Expired", "NotKept", "Full", "Invalid", "Skipped", "Failed"]

REQUEST = cbor.Msg("request", [
    (1, "since", cbor.UINT, True),
    (2, "epoch", cbor.BYTES, False),
    (3, "push", cbor.BYTES, False),
    (4, "records", cbor.Array(cbor.BYTES), False),
])
PUSH_REPLY = cbor.Msg("push reply", [(1, "results", cbor.BYTES, True)])

# The vectors' server (protocols/revsync/testdata/README.md): its clock,
# and the record its set holds (the first of the three).
NOW = 1772366400  # 2026-03-01T12:00:00Z


def judge_batch(records, held):
    out, done = [], False
    for raw in records:
        if done:
            out.append("Skipped")
            continue
        try:
            env, p = decode_record(raw)
        except Invalid:
            out.append("Invalid")
            done = True
            continue
        if p["token"] in held:
            out.append("Held")
            continue
        if NOW >= p["expiry"] + SKEW:
            out.append("Expired")
            continue
        try:
            verify_record(env, p)
        except Invalid:
            out.append("Invalid")
            done = True
            continue
        out.append("Added")  # Accept: the set takes it
        held.add(p["token"])
    return out


def check_push(v, first_held):
    data = bytes.fromhex(v["hex"])
    if v["kind"] == "request":
        try:
            r = cbor.decode(data, REQUEST)
        except cbor.Malformed:
            got = "BadRequest"
        else:
            recs = r.get("records")
            if recs is None:
                return "not a batch push"
            if r["since"] != 0 or "epoch" in r or "push" in r or not 1 <= len(recs) <= MAX_PUSH:
                got = "BadRequest"
            else:
                got = ",".join(judge_batch(recs, {first_held}))
    elif v["kind"] == "reply":
        try:
            rep = cbor.decode(data, PUSH_REPLY)
        except cbor.Malformed:
            got = "malformed"
        else:
            res = rep["results"]
            got = "ok" if len(res) == v["records"] and all(b < len(RESULTS) for b in res) else "ErrBadServer"
    else:
        return "unknown kind %r" % v["kind"]
    return None if got == v["want"] else "got %s, want %s" % (got, v["want"])


def first_record_id(vs):
    """The token the vectors' server holds: the first record of the first
    request vector that pushes records (the README says the server's set
    holds the first of the three, and "a held record, then a new one"
    pushes it first)."""
    for v in vs:
        if v["kind"] == "request" and v["want"].startswith("Held"):
            r = cbor.decode(bytes.fromhex(v["hex"]), REQUEST)
            return decode_record(r["records"][0])[1]["token"]
    raise SystemExit("no vector pushes the held record")


def main():
    vectors.run("revgossip digests", "protocols/revgossip/testdata/digests.json", check_digest)
    vs = vectors.load("protocols/revsync/testdata/push.json")
    held = first_record_id(vs)
    rep = vectors.Report("revsync batch push")
    for v in vs:
        rep.check("push.json: %s" % v["name"], check_push, v, held)
    rep.finish()


if __name__ == "__main__":
    main()
