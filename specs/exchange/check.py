"""Checks internal/exchange/testdata against internal/exchange/doc.go:
the client's decoding of a reply (replies.json) and the server's answer
to a request stream (requests.json)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
from envelope import Refusal, decode_reply  # noqa: E402
import frames  # noqa: E402
import vectors  # noqa: E402

# The sample message of internal/wire/testdata/README.md.
SAMPLE = cbor.Msg("sample", [
    (1, "a", cbor.UINT, True),
    (2, "b", cbor.TEXT, False),
    (3, "c", cbor.BYTES, False),
    (4, "d", cbor.Array(cbor.TEXT), False),
])


def check_reply(v):
    typ = None
    if v["expect"] == "sample":
        typ = lambda b: cbor.decode(b, SAMPLE)  # noqa: E731
    try:
        got = decode_reply(vectors.blob(v), typ)
    except Refusal as r:
        if r.status != v["want"]:
            return "refused %s (%s), want %s" % (r.status, r.message, v["want"])
        if r.status != "BadRequest":
            if r.message != v.get("message", ""):
                return "message %r" % r.message
            if (r.detail or b"").hex() != v.get("detail", ""):
                return "detail %s, want %s" % ((r.detail or b"").hex(), v.get("detail", ""))
        return None
    if v["want"] != "OK":
        return "accepted, want %s" % v["want"]
    if v["expect"] == "sample" and got["a"] != v.get("a", 0):
        return "body %r" % got
    return None


def check_request(v):
    got, _, _ = frames.read_frame(bytes.fromhex(v["hex"]), v["max_request"])
    answer = {"ok": "handled", "truncated": "none", "end": "none"}.get(got, got)
    return None if answer == v["want"] else "answered %s, want %s" % (answer, v["want"])


if __name__ == "__main__":
    r = vectors.Report("exchange")
    for v in vectors.load("internal/exchange/testdata/replies.json"):
        r.check("replies.json: " + v["name"], check_reply, v)
    for v in vectors.load("internal/exchange/testdata/requests.json"):
        r.check("requests.json: " + v["name"], check_request, v)
    r.finish()
