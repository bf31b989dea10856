"""Checks protocols/share/testdata against protocols/share/doc.go: the
owner's own request rules (requests.json) and the grantee's reading of
replies (replies.json)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import envelope  # noqa: E402
import frames  # noqa: E402
import peerid  # noqa: E402
import vectors  # noqa: E402
from capwire.check import parse_detail  # noqa: E402

MAX_DATA = 4 << 20
MAX_LIST_NAMES = 1024
MAX_PATH = 1024
MAX_TOKEN_BYTES = 4096
FRAME_SLACK = 4096
MAX_REQUEST = MAX_DATA + MAX_TOKEN_BYTES + MAX_PATH + FRAME_SLACK
MAX_RESPONSE = MAX_DATA + FRAME_SLACK

REQUEST = cbor.Msg("request", [
    (1, "op", cbor.UINT8, True),
    (2, "path", cbor.TEXT, False),
    (3, "token", cbor.BYTES, True),
    (4, "data", cbor.BYTES, False),
])
READ_REPLY = cbor.Msg("read reply", [(1, "data", cbor.BYTES, True)])
LIST_REPLY = cbor.Msg("list reply", [(1, "names", cbor.Array(cbor.TEXT), True)])


def request_outcome(body):
    """Steps 2 and 3 of doc.go's message flow: "token" when the request
    passes them (the token is then capability's), else the status."""
    try:
        req = cbor.decode(body, REQUEST)
    except cbor.Malformed:
        return "BadRequest"
    if req["op"] not in (1, 2, 3, 4):
        return "BadRequest"
    if len(req.get("path", "").encode("utf-8")) > MAX_PATH:
        return "BadRequest"
    if len(req.get("data", b"")) > MAX_DATA:
        return "TooLarge"
    if "data" in req and req["op"] != 3:
        return "BadRequest"
    return "token"


def prefix_outcome(b, cap):
    got, _, _ = frames.read_frame(b, cap)
    return "read" if got in ("ok", "truncated") else got


def check_request(v):
    data = vectors.blob(v)
    got = prefix_outcome(data, MAX_REQUEST) if v.get("prefix") else request_outcome(data)
    return None if got == v["want"] else "answered %s, want %s" % (got, v["want"])


def check_reply(v):
    data = vectors.blob(v)
    if v.get("prefix"):
        got = prefix_outcome(data, MAX_RESPONSE)
        return None if got == v["want"] else "read %s, want %s" % (got, v["want"])
    op = v["op"]
    typ = {"read": lambda b: cbor.decode(b, READ_REPLY),
           "list": lambda b: cbor.decode(b, LIST_REPLY)}.get(op)
    got, val = envelope.outcome(lambda: envelope.decode_reply(data, typ))
    if got != v["want"]:
        return "got %s (%s), want %s" % (got, getattr(val, "message", ""), v["want"])
    if got == "OK" and op == "read":
        if len(val["data"]) != v.get("len", 0) or (v.get("data") and val["data"].hex() != v["data"]):
            return "data of %d bytes" % len(val["data"])
    if got == "OK" and op == "list" and val["names"] != v.get("names", []):
        return "names %r" % val["names"][:3]
    # The Revoked detail, read as a grantee reads it: only off a Revoked
    # refusal, and ignored when it is not well formed.
    want = v.get("detail")
    d = None
    if got == "Revoked" and val.detail is not None:
        try:
            d = parse_detail(val.detail)
        except cbor.Malformed:
            d = None
    if (d is None) != (want is None):
        return "detail read %r, want %r" % (d, want)
    if d is not None:
        mine = {"token": d["token"].hex(), "link": d["link"], "of": d["of"]}
        if "by" in d:
            mine["by"] = peerid.text(d["by"])
        if "at" in d:
            mine["at"] = d["at"]
        if mine != want:
            return "detail %r, want %r" % (mine, want)
    return None


if __name__ == "__main__":
    r = vectors.Report("share")
    for v in vectors.load("protocols/share/testdata/requests.json"):
        r.check("requests.json: " + v["name"], check_request, v)
    for v in vectors.load("protocols/share/testdata/replies.json"):
        r.check("replies.json: " + v["name"], check_reply, v)
    r.finish()
