"""Checks protocols/relayaccess/testdata/vectors.json against
protocols/relayaccess/doc.go: the relay's decoding of a request, and the
peer's reading of a reply."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import envelope  # noqa: E402
import frames  # noqa: E402
import vectors  # noqa: E402

MAX_REQUEST = 4096 + 64
MAX_RESPONSE = 256

REQUEST = cbor.Msg("request", [(1, "token", cbor.BYTES, True)])


def check(v):
    data = bytes.fromhex(v.get("hex", ""))
    if v.get("prefix"):
        got, _, _ = frames.read_frame(data, MAX_REQUEST if v["kind"] == "request" else MAX_RESPONSE)
        got = "read" if got in ("ok", "truncated") else got
    elif v["kind"] == "request":
        try:
            cbor.decode(data, REQUEST)
            got = "token"
        except cbor.Malformed:
            got = "BadRequest"
    else:
        got, _ = envelope.outcome(lambda: envelope.decode_reply(data, None))
    return None if got == v["want"] else "got %s, want %s" % (got, v["want"])


if __name__ == "__main__":
    vectors.run("relayaccess", "protocols/relayaccess/testdata/vectors.json", check)
