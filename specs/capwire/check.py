"""Checks protocols/capwire/testdata/revoked.json and window.json against
protocols/capwire/doc.go ("Revoked detail", "Window detail")."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import peerid  # noqa: E402
import vectors  # noqa: E402

MAX_DEPTH = 4
MAX_SKEW = 300
MAX_UNIX = 253402300799

DETAIL = cbor.Msg("revoked detail", [
    (1, "token", cbor.BYTES, True),
    (2, "link", cbor.UINT, True),
    (3, "of", cbor.UINT, True),
    (4, "by", cbor.BYTES, False),
    (5, "at", cbor.INT, False),
])


def parse_detail(b):
    """The detail's fields, or raise cbor.Malformed: not well formed."""
    d = cbor.decode(b, DETAIL)
    if len(d["token"]) != 32:
        raise cbor.Malformed("token ID of %d bytes" % len(d["token"]))
    if not 1 <= d["of"] <= MAX_DEPTH:
        raise cbor.Malformed("chain length %d" % d["of"])
    if not 1 <= d["link"] <= d["of"]:
        raise cbor.Malformed("link %d of %d" % (d["link"], d["of"]))
    if "by" in d:
        why = peerid.problem(d["by"])
        if why:
            raise cbor.Malformed("by: " + why)
    if "at" in d and d["at"] <= 0:
        raise cbor.Malformed("at %d" % d["at"])
    return d


def check(v):
    try:
        d = parse_detail(bytes.fromhex(v["hex"]))
    except cbor.Malformed as e:
        return None if not v.get("valid") else "refused (%s), want valid" % e
    if not v.get("valid"):
        return "accepted %r, want refused" % d
    got = (d["token"].hex(), d["link"], d["of"], peerid.text(d["by"]) if "by" in d else "", d.get("at", 0))
    want = (v.get("token"), v.get("link", 0), v.get("of", 0), v.get("by", ""), v.get("at", 0))
    return None if got == want else "decoded %r, want %r" % (got, want)


WINDOW = cbor.Msg("window detail", [
    (1, "link", cbor.UINT, True),
    (2, "of", cbor.UINT, True),
    (3, "not-before", cbor.UINT, True),
    (4, "expiry", cbor.UINT, True),
    (5, "now", cbor.UINT, True),
    (6, "skew", cbor.UINT, True),
])


def parse_window(b):
    """The window detail's fields and side, or raise cbor.Malformed."""
    d = cbor.decode(b, WINDOW)
    if not 1 <= d["of"] <= MAX_DEPTH:
        raise cbor.Malformed("chain length %d" % d["of"])
    if not 1 <= d["link"] <= d["of"]:
        raise cbor.Malformed("link %d of %d" % (d["link"], d["of"]))
    if not d["not-before"] < d["expiry"] <= MAX_UNIX:
        raise cbor.Malformed("validity [%d, %d)" % (d["not-before"], d["expiry"]))
    if d["now"] > MAX_UNIX:
        raise cbor.Malformed("now %d" % d["now"])
    if not 1 <= d["skew"] <= MAX_SKEW:
        raise cbor.Malformed("skew %d" % d["skew"])
    early = d["now"] + d["skew"] < d["not-before"]
    late = d["now"] - d["skew"] >= d["expiry"]
    if not (early or late):
        raise cbor.Malformed("now %d inside the widened window" % d["now"])
    d["side"] = "not yet valid" if early else "expired"
    return d


def check_window(v):
    try:
        d = parse_window(bytes.fromhex(v["hex"]))
    except cbor.Malformed as e:
        return None if not v.get("valid") else "refused (%s), want valid" % e
    if not v.get("valid"):
        return "accepted %r, want refused" % d
    got = (d["side"], d["link"], d["of"], d["not-before"], d["expiry"], d["now"], d["skew"])
    want = (v.get("side"), v.get("link", 0), v.get("of", 0), v.get("not_before", 0), v.get("expiry", 0),
            v.get("now", 0), v.get("skew", 0))
    return None if got == want else "decoded %r, want %r" % (got, want)


if __name__ == "__main__":
    r = vectors.Report("capwire")
    for rel, fn in (("protocols/capwire/testdata/revoked.json", check),
                    ("protocols/capwire/testdata/window.json", check_window)):
        for v in vectors.load(rel):
            r.check("%s: %s" % (rel, v.get("name", "?")), fn, v)
    r.finish()
