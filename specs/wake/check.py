"""Checks protocols/wake/testdata/requests.json against protocols/wake/doc.go:
what a relay's decode of an /ocmt/wake/1 request makes of each body, the
steps 2 to 4 of doc.go's "Message flow" order, in that order, the first
refusal being the answer:

  2. the canonical decode (internal/wire "CBOR", specs/cbor.py) of the
     map of doc.go "Frames" — BadRequest;
  3. the op (1 to 4) and the fields per op (R required, O optional, -
     refused) — BadRequest;
  4. each field's form, in the order listed: the handle (2 to 32 bytes of a-z, 0-9, '-', '_'),
     the owner (a peer ID, specs/peerid.py), the token (at most 4096
     bytes) — BadRequest; a half of more than 256 bytes — TooLarge; a
     half without an until or an until without a half, an until before
     1970 — BadRequest.

The vectors are bodies: the frame's cap (MaxRequest, 4608 bytes, TooLarge
before the body is read) is internal/exchange's and its checker's.

Beyond the decode, for the vectors that decode as a wake it checks what
the vectors' README says of their token, as far as the prose lets a
reader: it is a capability token (specs/tokenlib.py, over
specs/tokens/verify.py) whose root issuer is the owner the request
names, whose signatures, links and ceilings hold and whose window holds
at its own not-before, so that a relay would pass it on doc.go "Tokens"
steps 1 and 3 to 6 for its audience. It cannot check that the audience is
the test key "bob" (a test key's seed is not in the prose).

What it does not check: ResumeReply (no vector carries one), and the
relay's own checks (step 1's rate, step 5's authorizer, clock, caps and
hook), which depend on state no vector holds.

    python3 -B specs/wake/check.py [-v]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import peerid  # noqa: E402
import tokenlib  # noqa: E402
import vectors  # noqa: E402

VECTORS = "protocols/wake/testdata/requests.json"

MAX_HALF = 256
MIN_HANDLE, MAX_HANDLE = 2, 32
MAX_TOKEN = 4096
HANDLE_BYTES = "abcdefghijklmnopqrstuvwxyz0123456789-_"

REQUEST = cbor.Msg("request", [
    (1, "op", cbor.UINT8, True),
    (2, "handle", cbor.TEXT, False),
    (3, "half", cbor.BYTES, False),
    (4, "until", cbor.INT, False),
    (5, "owner", cbor.BYTES, False),
    (6, "token", cbor.BYTES, False),
])

# op: (name, required fields, optional fields); every other field is refused.
OPS = {
    1: ("hibernate", {"handle"}, {"half", "until"}),
    2: ("wake", {"owner", "token"}, set()),
    3: ("resume", set(), set()),
    4: ("forget", set(), set()),
}

class Bad(Exception):
    """A refusal: args[0] is the status name, args[1] says why."""


def valid_handle(h):
    b = h.encode("utf-8")
    return MIN_HANDLE <= len(b) <= MAX_HANDLE and all(c in HANDLE_BYTES for c in h)


def decode_request(data):
    """(op name, fields) of a request body, or raise Bad."""
    # Step 2: the canonical decode.
    try:
        f = cbor.decode(data, REQUEST)
    except cbor.Malformed as e:
        raise Bad("BadRequest", str(e))
    # Step 3: the op and the fields per op.
    spec = OPS.get(f["op"])
    if spec is None:
        raise Bad("BadRequest", "op %d" % f["op"])
    name, required, optional = spec
    for field in f:
        if field != "op" and field not in required and field not in optional:
            raise Bad("BadRequest", "%s with the field %s" % (name, field))
    for field in required:
        if field not in f:
            raise Bad("BadRequest", "%s without the field %s" % (name, field))
    # Step 4: each field's form.
    if "handle" in f and not valid_handle(f["handle"]):
        raise Bad("BadRequest", "handle %r" % f["handle"])
    if "owner" in f and peerid.problem(f["owner"]):
        raise Bad("BadRequest", "owner: %s" % peerid.problem(f["owner"]))
    if "token" in f and len(f["token"]) > MAX_TOKEN:
        raise Bad("BadRequest", "a token of %d bytes" % len(f["token"]))
    if "half" in f and len(f["half"]) > MAX_HALF:
        raise Bad("TooLarge", "a half of %d bytes" % len(f["half"]))
    if "half" in f and "until" not in f:
        raise Bad("BadRequest", "a half without an until")
    if "until" in f and "half" not in f:
        raise Bad("BadRequest", "an until without a half")
    if "until" in f and f["until"] < 0:
        raise Bad("BadRequest", "an until before 1970")
    return name, f


def token_problem(f):
    """Why the wake's token is not one a relay would pass for its
    audience and the owner named (None when it is)."""
    raw = f["token"]
    if tokenlib.issuers(raw)[-1] != f["owner"]:
        return "the token's root issuer is not the owner named"
    why = tokenlib.check(raw, tokenlib.not_before(raw))
    return None if why is None else "the token is refused: %s" % why


def check(v):
    try:
        got, f = decode_request(vectors.blob(v))
    except Bad as e:
        got, f = e.args[0], None
    if got != v["want"]:
        return "got %s, want %s" % (got, v["want"])
    if got == "wake":
        return token_problem(f)
    return None


def run(report):
    """Checks every vector into report (a vectors.Report)."""
    for v in vectors.load(VECTORS):
        report.check("%s: %s" % (VECTORS, v["name"]), check, v)


if __name__ == "__main__":
    r = vectors.Report("wake")
    run(r)
    if "-v" in sys.argv[1:]:
        for v in vectors.load(VECTORS):
            try:
                out = decode_request(vectors.blob(v))[0]
            except Bad as e:
                out = "%s (%s)" % e.args
            print("%-40s %s" % (v["name"], out))
    r.finish()
