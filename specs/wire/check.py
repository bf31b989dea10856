"""Checks internal/wire/testdata against internal/wire/doc.go: frames
(frames.json) and the CBOR rules on the sample message (cbor.json)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import frames  # noqa: E402
import vectors  # noqa: E402

# The sample message of testdata/README.md.
SAMPLE = cbor.Msg("sample", [
    (1, "a", cbor.UINT, True),
    (2, "b", cbor.TEXT, False),
    (3, "c", cbor.BYTES, False),
    (4, "d", cbor.Array(cbor.TEXT), False),
])


def check_frame(v):
    got, body, _ = frames.read_frame(bytes.fromhex(v["hex"]), v["max"])
    if got != v["want"]:
        return "read %s, want %s" % (got, v["want"])
    if got == "ok":
        if len(body) != v.get("len", 0):
            return "body of %d bytes, want %d" % (len(body), v.get("len", 0))
        if v.get("body") and body.hex() != v["body"]:
            return "body %s" % body.hex()
    return None


def check_cbor(v):
    try:
        m = cbor.decode(vectors.blob(v), SAMPLE)
    except cbor.Malformed as e:
        return None if v["want"] == "BadRequest" else "refused (%s), want %s" % (e, v["want"])
    if v["want"] != "ok":
        return "accepted %r, want %s" % (m, v["want"])
    want = v["value"]
    got = {"a": m["a"], "b": m.get("b", ""), "c": m.get("c", b"").hex(), "d": m.get("d", [])}
    exp = {"a": want["a"], "b": want.get("b", ""), "c": want.get("c", ""), "d": want.get("d", [])}
    return None if got == exp else "decoded %r, want %r" % (got, exp)


if __name__ == "__main__":
    r = vectors.Report("wire")
    for v in vectors.load("internal/wire/testdata/frames.json"):
        r.check("frames.json: " + v["name"], check_frame, v)
    for v in vectors.load("internal/wire/testdata/cbor.json"):
        r.check("cbor.json: " + v["name"], check_cbor, v)
    r.finish()
