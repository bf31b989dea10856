"""Checks protocols/relayaccess/testdata/vectors.json against
protocols/relayaccess/doc.go: the relay's decoding of a relay-access
request and the peer's reading of its reply; the relay's check of a
registration (relay-register/1), the bootstrap's decoding of a voucher
request and the node's reading of a voucher reply (relay-voucher/1)."""

import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import ed25519  # noqa: E402
import envelope  # noqa: E402
import frames  # noqa: E402
import peerid  # noqa: E402
import vectors  # noqa: E402
from directory import check as directory  # noqa: E402  (records: protocols/directory "Records")

MAX_REQUEST = 4096 + 64
MAX_RESPONSE = 256

# Registrations.
VOUCHER_VERSION = 1
MAX_VOUCHER_BYTES = 256
MAX_VOUCHER_LIFETIME = 86400
MAX_CLOCK_SKEW = 300
MAX_REGISTRATION = directory.MAX_RECORD + MAX_VOUCHER_BYTES + 128
MAX_VOUCHER_REQUEST = 16
MAX_VOUCHER_RESPONSE = MAX_REGISTRATION + 16 + 64
VOUCHER_LABEL = b"ocmt-mesh/relay-voucher/v1"

CAPS = {
    "request": MAX_REQUEST,
    "reply": MAX_RESPONSE,
    "registration": MAX_REGISTRATION,
    "voucher-request": MAX_VOUCHER_REQUEST,
    "voucher-reply": MAX_VOUCHER_RESPONSE,
}

REQUEST = cbor.Msg("request", [(1, "token", cbor.BYTES, True)])

REGISTRATION = cbor.Msg("registration", [
    (1, "record", directory.SIGNED_RECORD, True),
    (2, "voucher", cbor.BYTES, True),
    (3, "sig", cbor.BYTES, True),
])

VOUCHER = cbor.Msg("voucher", [
    (1, "v", cbor.UINT, True),
    (2, "peer", cbor.BYTES, True),
    (3, "bootstrap", cbor.BYTES, True),
    (4, "record", cbor.BYTES, True),
    (5, "issued", cbor.INT, True),
    (6, "expires", cbor.INT, True),
])

VOUCHER_REQUEST = cbor.Msg("voucher request", [])


class Bad(Exception):
    """A refusal: args[0] is the status name."""


def verify_registration(reg, remote, trusted, now):
    """The checks of doc.go "Registrations", 1 to 5, in order."""
    try:
        rec = directory.verify_record(reg["record"])
    except directory.Bad as e:
        raise Bad(e.args[0], e.args[1])
    if rec["peer"] != remote:
        raise Bad("Forbidden", "record for another peer")
    if not 1 <= len(reg["voucher"]) <= MAX_VOUCHER_BYTES or len(reg["sig"]) != 64:
        raise Bad("BadRequest", "voucher or signature size")
    try:
        v = cbor.decode(reg["voucher"], VOUCHER)
    except cbor.Malformed as e:
        raise Bad("BadRequest", "voucher: %s" % e)
    if v["v"] != VOUCHER_VERSION:
        raise Bad("BadRequest", "voucher version")
    if peerid.problem(v["peer"]) or peerid.problem(v["bootstrap"]):
        raise Bad("BadRequest", "voucher peer IDs")
    if len(v["record"]) != 32:
        raise Bad("BadRequest", "record hash size")
    if not (0 < v["issued"] < v["expires"] <= v["issued"] + MAX_VOUCHER_LIFETIME):
        raise Bad("BadRequest", "voucher window")
    if v["peer"] != remote:
        raise Bad("Forbidden", "voucher for another peer")
    if v["record"] != hashlib.sha256(reg["record"]["payload"]).digest():
        raise Bad("Forbidden", "voucher for another record")
    if v["bootstrap"] != trusted:
        raise Bad("Forbidden", "untrusted bootstrap")
    if now < v["issued"] - MAX_CLOCK_SKEW or now >= v["expires"]:
        raise Bad("Expired", "outside the window")
    if not ed25519.verify(peerid.key(v["bootstrap"]), VOUCHER_LABEL + b"\x00" + reg["voucher"], reg["sig"]):
        raise Bad("Forbidden", "bad voucher signature")
    return v


def check_registration(data, v):
    try:
        reg = cbor.decode(data, REGISTRATION)
    except cbor.Malformed:
        return "BadRequest"
    try:
        verify_registration(reg, peerid.unb58(v["remote"]), peerid.unb58(v["bootstrap"]), v["now"])
    except Bad as e:
        return e.args[0]
    return "OK"


def read_voucher_body(v):
    remote, trusted = peerid.unb58(v["remote"]), peerid.unb58(v["bootstrap"])

    def decode(b):
        reg = cbor.decode(b, REGISTRATION)
        try:
            verify_registration(reg, remote, trusted, v["now"])
        except Bad as e:
            raise envelope.Refusal("BadRequest", "the voucher does not verify: %s" % e.args[1])
        return reg
    return decode


def check(v):
    data = bytes.fromhex(v.get("hex", ""))
    kind = v["kind"]
    if v.get("prefix"):
        got, _, _ = frames.read_frame(data, CAPS[kind])
        got = "read" if got in ("ok", "truncated") else got
    elif kind == "request":
        try:
            cbor.decode(data, REQUEST)
            got = "token"
        except cbor.Malformed:
            got = "BadRequest"
    elif kind == "reply":
        got, _ = envelope.outcome(lambda: envelope.decode_reply(data, None))
    elif kind == "registration":
        got = check_registration(data, v)
    elif kind == "voucher-request":
        try:
            cbor.decode(data, VOUCHER_REQUEST)
            got = "pass"
        except cbor.Malformed:
            got = "BadRequest"
    elif kind == "voucher-reply":
        got, _ = envelope.outcome(lambda: envelope.decode_reply(data, read_voucher_body(v)))
    else:
        return "unknown kind %r" % kind
    return None if got == v["want"] else "got %s, want %s" % (got, v["want"])


if __name__ == "__main__":
    vectors.run("relayaccess", "protocols/relayaccess/testdata/vectors.json", check)
