"""Checks protocols/directory/testdata against protocols/directory/doc.go:
signed records (records.json), the server's answer to requests
(requests.json) and the client's reading of replies (replies.json)."""

import os
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import ed25519  # noqa: E402
import envelope  # noqa: E402
import frames  # noqa: E402
import peerid  # noqa: E402
import vectors  # noqa: E402

MIN_HANDLE, MAX_HANDLE = 2, 32
MAX_NAME = 64
MAX_RELAYS = 8
MAX_ADDR = 256
MAX_DNS = 253
MAX_PAYLOAD = 2560
MAX_RECORD = MAX_PAYLOAD + 128
MAIL_ID_LEN = 16
MAX_SEALED = 32768
MAX_MAIL_TOKENS = 4
MAX_FETCH_ITEMS = 16
MAX_REQUEST = MAX_SEALED + 512
MAX_RESPONSE = 16 * (32768 + 128) + 256
LABEL = b"ocmt-mesh/directory/v1"

SIGNED_RECORD = cbor.Msg("signed record", [
    (1, "payload", cbor.BYTES, True),
    (2, "sig", cbor.BYTES, True),
])

PAYLOAD = cbor.Msg("payload", [
    (1, "v", cbor.UINT, True),
    (2, "handle", cbor.TEXT, True),
    (3, "peer", cbor.BYTES, True),
    (4, "relays", cbor.Array(cbor.BYTES), False),
    (5, "name", cbor.TEXT, False),
    (6, "seq", cbor.UINT, True),
    (7, "issued", cbor.INT, True),
])

REQUEST = cbor.Msg("request", [
    (1, "op", cbor.UINT8, True),
    (2, "record", SIGNED_RECORD, False),
    (3, "handle", cbor.TEXT, False),
    (4, "peer", cbor.BYTES, False),
    (5, "sealed", cbor.BYTES, False),
    (6, "ids", cbor.Array(cbor.BYTES), False),
    (7, "tokens", cbor.Array(cbor.BYTES), False),
])

MAIL_ITEM = cbor.Msg("mail item", [
    (1, "id", cbor.BYTES, True),
    (2, "from", cbor.BYTES, True),
    (3, "received", cbor.INT, True),
    (4, "sealed", cbor.BYTES, True),
])

FETCH_REPLY = cbor.Msg("fetch reply", [
    (1, "items", cbor.Array(MAIL_ITEM), True),
    (2, "more", cbor.BOOL, False),
])

# Fields per op: (required, allowed besides op).
OPS = {
    1: ("publish", {"record"}, set()),
    2: ("lookup", {"handle"}, set()),
    3: ("lookup-peer", {"peer"}, set()),
    4: ("mailbox-put", {"peer", "sealed"}, {"tokens"}),
    5: ("mailbox-fetch", set(), set()),
    6: ("mailbox-ack", {"ids"}, set()),
}


class Bad(Exception):
    """A refusal: args[0] is the status name."""


# ---- records ---------------------------------------------------------------

def valid_handle(h):
    return MIN_HANDLE <= len(h.encode("utf-8")) <= MAX_HANDLE and all(
        c in "abcdefghijklmnopqrstuvwxyz0123456789-_" for c in h)


def printable(c):
    return c == " " or unicodedata.category(c)[0] in "LMNPS"


def uvarint(b, pos):
    """A minimal unsigned LEB128 varint at pos: (value, next pos)."""
    n, shift = 0, 0
    for i in range(9):
        if pos >= len(b):
            raise Bad("BadRequest", "truncated varint")
        c = b[pos]
        pos += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            if i > 0 and c == 0:
                raise Bad("BadRequest", "non-minimal varint")
            return n, pos
        shift += 7
    raise Bad("BadRequest", "varint too long")


FIXED = {4: 4, 41: 16, 6: 2, 273: 2, 461: 0, 290: 0}
DNS = {53, 54, 55}
P2P = 421


def check_relay(b):
    if not 1 <= len(b) <= MAX_ADDR:
        raise Bad("BadRequest", "relay of %d bytes" % len(b))
    pos = 0
    while pos < len(b):
        code, pos = uvarint(b, pos)
        if code in FIXED:
            n = FIXED[code]
            if pos + n > len(b):
                raise Bad("BadRequest", "relay cut inside a component")
            pos += n
        elif code in DNS or code == P2P:
            n, pos = uvarint(b, pos)
            if pos + n > len(b):
                raise Bad("BadRequest", "relay cut inside a component")
            value = b[pos:pos + n]
            pos += n
            if code == P2P:
                why = peerid.problem(value)
                if why:
                    raise Bad("BadRequest", "relay p2p: " + why)
            elif not (1 <= n <= MAX_DNS and all(
                    c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-." for c in value)):
                raise Bad("BadRequest", "bad DNS name %r" % value)
        else:
            raise Bad("BadRequest", "protocol %d not allowed" % code)


def verify_record(sr):
    """sr: {"payload", "sig"}. Returns the payload's fields; raises Bad."""
    p = sr["payload"]
    if not 1 <= len(p) <= MAX_PAYLOAD:
        raise Bad("BadRequest", "payload of %d bytes" % len(p))
    if len(sr["sig"]) != 64:
        raise Bad("BadRequest", "signature of %d bytes" % len(sr["sig"]))
    try:
        f = cbor.decode(p, PAYLOAD)
    except cbor.Malformed as e:
        raise Bad("BadRequest", "payload: %s" % e)
    if f["v"] != 1:
        raise Bad("BadRequest", "version %d" % f["v"])
    if not valid_handle(f["handle"]):
        raise Bad("BadRequest", "handle %r" % f["handle"])
    why = peerid.problem(f["peer"])
    if why:
        raise Bad("BadRequest", "peer: " + why)
    relays = f.get("relays", [])
    if len(relays) > MAX_RELAYS:
        raise Bad("BadRequest", "%d relays" % len(relays))
    for r in relays:
        check_relay(r)
    name = f.get("name", "")
    if len(name.encode("utf-8")) > MAX_NAME or not all(printable(c) for c in name):
        raise Bad("BadRequest", "name %r" % name)
    if f["seq"] < 1:
        raise Bad("BadRequest", "seq 0")
    if f["issued"] <= 0:
        raise Bad("BadRequest", "issued %d" % f["issued"])
    if not ed25519.verify(peerid.key(f["peer"]), LABEL + b"\x00" + p, sr["sig"]):
        raise Bad("BadRequest", "bad signature")
    return f


def parse_record(b):
    """A record envelope on its own (ParseSignedRecord)."""
    if len(b) > MAX_RECORD:
        raise Bad("BadRequest", "envelope of %d bytes" % len(b))
    try:
        sr = cbor.decode(b, SIGNED_RECORD)
    except cbor.Malformed as e:
        raise Bad("BadRequest", "envelope: %s" % e)
    return verify_record(sr)


def check_record(v):
    try:
        f = parse_record(bytes.fromhex(v["hex"]))
    except Bad as e:
        return None if not v.get("valid") else "refused (%s), want valid" % e.args[1]
    if not v.get("valid"):
        return "accepted, want refused"
    got = (f["handle"], peerid.text(f["peer"]), f["seq"])
    want = (v["handle"], v["peer"], v["seq"])
    return None if got == want else "decoded %r, want %r" % (got, want)


# ---- requests --------------------------------------------------------------

def serve(body, remote):
    """The server's answer to a request body from remote (bytes): "pass" when
    the request reaches its op's store, else raise Bad(status)."""
    try:
        req = cbor.decode(body, REQUEST)
    except cbor.Malformed as e:
        raise Bad("BadRequest", str(e))
    op = req["op"]
    if op not in OPS:
        raise Bad("BadRequest", "unknown op %d" % op)
    name, required, optional = OPS[op]
    present = set(req) - {"op"}
    if required - present:
        raise Bad("BadRequest", "%s: missing %s" % (name, required - present))
    if present - required - optional:
        raise Bad("BadRequest", "%s: not allowed %s" % (name, present - required - optional))
    if name == "publish":
        f = verify_record(req["record"])
        if f["peer"] != remote:
            raise Bad("Forbidden", "record for another peer")
    elif name == "lookup":
        if not valid_handle(req["handle"]):
            raise Bad("BadRequest", "handle")
    elif name == "lookup-peer":
        if peerid.problem(req["peer"]):
            raise Bad("BadRequest", "peer")
    elif name == "mailbox-put":
        if peerid.problem(req["peer"]):
            raise Bad("BadRequest", "peer")
        if len(req["sealed"]) > MAX_SEALED:
            raise Bad("TooLarge", "sealed blob")
        tokens = req.get("tokens", [])
        if len(tokens) > MAX_MAIL_TOKENS or any(len(t) != 32 for t in tokens):
            raise Bad("BadRequest", "tokens")
    elif name == "mailbox-ack":
        ids = req["ids"]
        if len(ids) > MAX_FETCH_ITEMS or any(len(i) != MAIL_ID_LEN for i in ids):
            raise Bad("BadRequest", "ids")
    return "pass"


def prefix_outcome(b, cap):
    got, _, _ = frames.read_frame(b, cap)
    return "read" if got in ("ok", "truncated") else got


def check_request(v):
    data = vectors.blob(v)
    if v.get("prefix"):
        got = prefix_outcome(data, MAX_REQUEST)
    else:
        try:
            got = serve(data, peerid.unb58(v["remote"]))
        except Bad as e:
            got = e.args[0]
    return None if got == v["want"] else "answered %s, want %s" % (got, v["want"])


# ---- replies ---------------------------------------------------------------

def read_record_body(asked_handle=None, asked_peer=None):
    def decode(b):
        try:
            sr = cbor.decode(b, SIGNED_RECORD)
        except cbor.Malformed as e:
            raise envelope.Refusal("BadRequest", str(e))
        try:
            f = verify_record(sr)
        except Bad as e:
            raise envelope.Refusal(e.args[0], e.args[1])
        if asked_handle is not None and f["handle"] != asked_handle:
            raise envelope.Refusal("BadRequest", "record for another handle")
        if asked_peer is not None and f["peer"] != asked_peer:
            raise envelope.Refusal("BadRequest", "record for another peer")
        return f
    return decode


def read_fetch_body(b):
    r = cbor.decode(b, FETCH_REPLY)
    if len(r["items"]) > MAX_FETCH_ITEMS:
        raise envelope.Refusal("TooLarge", "%d items" % len(r["items"]))
    for it in r["items"]:
        if len(it["id"]) != MAIL_ID_LEN or peerid.problem(it["from"]):
            raise envelope.Refusal("BadRequest", "malformed item")
    return r


def check_reply(v):
    data = vectors.blob(v)
    if v.get("prefix"):
        got = prefix_outcome(data, MAX_RESPONSE)
        return None if got == v["want"] else "read %s, want %s" % (got, v["want"])
    op = v["op"]
    if op == "lookup":
        typ = read_record_body(asked_handle=v["asked"])
    elif op == "lookup-peer":
        typ = read_record_body(asked_peer=peerid.unb58(v["asked"]))
    elif op == "mailbox-fetch":
        typ = read_fetch_body
    else:
        typ = None  # publish, mailbox-put: no body
    got, val = envelope.outcome(lambda: envelope.decode_reply(data, typ))
    if got != v["want"]:
        return "got %s (%s), want %s" % (got, getattr(val, "message", ""), v["want"])
    if got == "OK" and op in ("lookup", "lookup-peer"):
        rec = (val["handle"], peerid.text(val["peer"]), val["seq"])
        if rec != (v["handle"], v["peer"], v["seq"]):
            return "record %r" % (rec,)
    if got == "OK" and op == "mailbox-fetch" and len(val["items"]) != v.get("items", 0):
        return "%d items" % len(val["items"])
    return None


if __name__ == "__main__":
    r = vectors.Report("directory")
    for name, check in (("records.json", check_record), ("requests.json", check_request), ("replies.json", check_reply)):
        for v in vectors.load("protocols/directory/testdata/" + name):
            r.check(name + ": " + v["name"], check, v)
    r.finish()
