"""Checks protocols/grant/testdata against protocols/grant/doc.go: the
receiver's own rules on a Delivery (deliveries.json), opening mailbox
items (mail.json) and the sender's reading of replies (replies.json)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor  # noqa: E402
import ed25519  # noqa: E402
import envelope  # noqa: E402
import frames  # noqa: E402
import peerid  # noqa: E402
import tokenlib  # noqa: E402
import vectors  # noqa: E402
from peerseal.check import NotRecipient, Refused, open_sealed  # noqa: E402

MAX_NOTE = 256
MAX_HANDLE = 64
MAX_TOKEN_BYTES = 4096
MAX_DELIVERY = MAX_TOKEN_BYTES + MAX_NOTE + MAX_HANDLE + 64
MAX_SEALED_DELIVERY = MAX_DELIVERY + 1024
MAX_RESPONSE = 256
# The mail vectors are opened at testkit.Epoch plus an hour.
MAIL_NOW = 1772366400 + 3600

DELIVERY = cbor.Msg("delivery", [
    (1, "token", cbor.BYTES, True),
    (2, "handle", cbor.TEXT, False),
    (3, "note", cbor.TEXT, False),
])


def delivery_rules(body):
    """Steps 2 and 3: the Delivery, or raise ValueError("BadRequest")."""
    try:
        d = cbor.decode(body, DELIVERY)
    except cbor.Malformed:
        raise ValueError("BadRequest")
    if len(d.get("note", "").encode("utf-8")) > MAX_NOTE or len(d.get("handle", "").encode("utf-8")) > MAX_HANDLE:
        raise ValueError("BadRequest")
    return d


def prefix_outcome(b, cap):
    got, _, _ = frames.read_frame(b, cap)
    return "read" if got in ("ok", "truncated") else got


def check_delivery(v):
    data = bytes.fromhex(v["hex"])
    if v.get("prefix"):
        got = prefix_outcome(data, MAX_DELIVERY)
    else:
        try:
            delivery_rules(data)
            got = "token"
        except ValueError as e:
            got = e.args[0]
    return None if got == v["want"] else "got %s, want %s" % (got, v["want"])


def open_mail(item, seed):
    """OpenMail: the Delivery, or raise ValueError(why)."""
    if len(item) > MAX_SEALED_DELIVERY:
        raise ValueError("over maxSealedDelivery")
    try:
        pt = open_sealed(item, seed)
    except (NotRecipient, Refused) as e:
        raise ValueError("does not open: %r" % e)
    d = delivery_rules(pt)
    me = peerid.PREFIX + ed25519.public_from_seed(seed)
    why = tokenlib.check(d["token"], MAIL_NOW, audience=me)
    if why:
        raise ValueError("token: " + why)
    return d


def check_mail(v):
    try:
        d = open_mail(bytes.fromhex(v["hex"]), bytes.fromhex(v["seed"]))
    except ValueError as e:
        return None if v["want"] == "refused" else "refused (%s), want %s" % (e, v["want"])
    if v["want"] != "ok":
        return "opened, want %s" % v["want"]
    got = (d.get("handle", ""), d.get("note", ""))
    return None if got == (v.get("handle", ""), v.get("note", "")) else "opened %r" % (got,)


def check_reply(v):
    data = bytes.fromhex(v["hex"])
    if v.get("prefix"):
        got = prefix_outcome(data, MAX_RESPONSE)
    else:
        got, _ = envelope.outcome(lambda: envelope.decode_reply(data, None))
    return None if got == v["want"] else "got %s, want %s" % (got, v["want"])


if __name__ == "__main__":
    r = vectors.Report("grant")
    for name, fn in (("deliveries.json", check_delivery), ("mail.json", check_mail), ("replies.json", check_reply)):
        for v in vectors.load("protocols/grant/testdata/" + name):
            r.check(name + ": " + v["name"], fn, v)
    r.finish()
