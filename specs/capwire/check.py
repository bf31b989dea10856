"""Checks protocols/capwire/testdata/revoked.json against
protocols/capwire/doc.go ("Revoked detail")."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import peerid  # noqa: E402
import vectors  # noqa: E402

MAX_DEPTH = 4

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


if __name__ == "__main__":
    vectors.run("capwire", "protocols/capwire/testdata/revoked.json", check)
