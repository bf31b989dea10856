"""Checks internal/snapshot/testdata against internal/snapshot/doc.go (key
IDs, root blocks, signed manifests and the reader's checks, whole sealed
snapshots opened with the reader's seed) and protocols/snapshot/testdata
against protocols/snapshot/doc.go (the request's fields per operation)."""

import base64
import datetime
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tokens"))

import cbor  # noqa: E402
import ed25519  # noqa: E402
import peerid  # noqa: E402
import vectors  # noqa: E402
import verify as tokens  # noqa: E402  specs/tokens/verify.py: the resource grammar
from peerseal.check import NotRecipient, Refused, open_sealed, recipient_u  # noqa: E402

# internal/snapshot/doc.go, "Limits".
FORMAT = 1
CHUNK_SIZE = 1048576
MAX_CHUNKS = 16384
DIGEST_SIZE = 32
MAX_ROOT_BYTES = 524352
MAX_SEALED_BYTES = 17179869184
CID_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])
CID_BYTES = 36
KEY_ID_SIZE = 16
MAX_RECIPIENTS = 256
MAX_RESOURCE_BYTES = 256
MAX_PAYLOAD_BYTES = 6144
MAX_MANIFEST_BYTES = 6272
MAX_LIFETIME = 31622400
SKEW = 60
LABEL = b"ocmt-mesh/manifest/v1"
# protocols/snapshot/doc.go.
MAX_TOKEN_BYTES = 4096


class Refusal(Exception):
    """A reader's refusal: args[0] is the error's name."""


ROOT = cbor.Msg("root", [(1, "format", cbor.UINT, True), (2, "size", cbor.UINT, True), (3, "digests", cbor.BYTES, True)])
ENVELOPE = cbor.Msg("envelope", [(1, "payload", cbor.BYTES, True), (2, "sig", cbor.BYTES, True)])
PAYLOAD = cbor.Msg("payload", [
    (1, "format", cbor.UINT, True), (2, "owner", cbor.BYTES, True), (3, "resource", cbor.TEXT, True),
    (4, "version", cbor.UINT, True), (5, "root", cbor.BYTES, True), (6, "size", cbor.UINT, True),
    (7, "recipients", cbor.Array(cbor.BYTES), True), (8, "created", cbor.INT, True), (9, "expiry", cbor.INT, True),
])
REQUEST = cbor.Msg("request", [
    (1, "op", cbor.UINT, True), (2, "manifest", cbor.BYTES, False), (3, "owner", cbor.BYTES, False),
    (4, "resource", cbor.TEXT, False), (5, "token", cbor.BYTES, False),
])


def key_id(peer):
    u = recipient_u(peer)
    if u is None:
        raise Refusal("Malformed")
    return hashlib.sha256(u).digest()[:KEY_ID_SIZE]


def cid_text(digest):
    return "b" + base64.b32encode(CID_PREFIX + digest).decode().lower().rstrip("=")


def chunk_count(size):
    return (size + CHUNK_SIZE - 1) // CHUNK_SIZE


def parse_root(b):
    if len(b) > MAX_ROOT_BYTES:
        raise Refusal("Malformed")
    try:
        r = cbor.decode(b, ROOT)
    except cbor.Malformed:
        raise Refusal("Malformed")
    if r["format"] != FORMAT or len(r["digests"]) % DIGEST_SIZE:
        raise Refusal("Malformed")
    size, n = r["size"], len(r["digests"]) // DIGEST_SIZE
    if not 1 <= size <= MAX_SEALED_BYTES:
        raise Refusal("Malformed")
    if n < chunk_count(size):
        raise Refusal("Truncated")
    if n > chunk_count(size):
        raise Refusal("Malformed")
    return size, [r["digests"][i * 32:(i + 1) * 32] for i in range(n)]


def parse_manifest(b):
    """Steps 1 and 2 of "Reading": the payload's fields, or a Refusal."""
    if len(b) > MAX_MANIFEST_BYTES:
        raise Refusal("Malformed")
    try:
        env = cbor.decode(b, ENVELOPE)
        if not 1 <= len(env["payload"]) <= MAX_PAYLOAD_BYTES or len(env["sig"]) != 64:
            raise Refusal("Malformed")
        p = cbor.decode(env["payload"], PAYLOAD)
    except cbor.Malformed:
        raise Refusal("Malformed")
    rules = [
        p["format"] == FORMAT,
        peerid.problem(p["owner"]) is None,
        len(p["resource"].encode()) <= MAX_RESOURCE_BYTES and tokens.segments(p["resource"], False) is not None,
        p["version"] >= 1,
        len(p["root"]) == CID_BYTES and p["root"].startswith(CID_PREFIX),
        1 <= p["size"] <= MAX_SEALED_BYTES,
        1 <= len(p["recipients"]) <= MAX_RECIPIENTS,
        all(len(r) == KEY_ID_SIZE for r in p["recipients"]),
        all(a < b for a, b in zip(p["recipients"], p["recipients"][1:])),
        0 < p["created"] < p["expiry"] and p["expiry"] - p["created"] <= MAX_LIFETIME,
    ]
    if not all(rules):
        raise Refusal("Malformed")
    if recipient_u(p["owner"]) is None or key_id(p["owner"]) not in p["recipients"]:
        raise Refusal("Malformed")
    if not ed25519.verify(peerid.key(p["owner"]), LABEL + b"\x00" + env["payload"], env["sig"]):
        raise Refusal("WrongSigner")
    return p


def check_manifest(b, owner, resource, reader, now):
    """Steps 1 to 6 of "Reading"."""
    p = parse_manifest(b)
    if p["owner"] != owner:
        raise Refusal("WrongSigner")
    if p["resource"] != resource:
        raise Refusal("Swapped")
    if now > p["expiry"] + SKEW or p["created"] > now + SKEW:
        raise Refusal("Expired")
    if key_id(reader) not in p["recipients"]:
        raise Refusal("NotRecipient")
    return p


def unix(rfc3339):
    return int(datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp())


def outcome(fn):
    try:
        return "ok", fn()
    except Refusal as e:
        return e.args[0], None


def check_key_ids(v):
    got = key_id(peerid.unb58(v["peer"])).hex()
    return None if got == v["key_id"] else "key ID %s, want %s" % (got, v["key_id"])


def check_root(v):
    got, r = outcome(lambda: parse_root(bytes.fromhex(v["hex"])))
    if got != v["want"]:
        return "got %s, want %s" % (got, v["want"])
    if r:
        size, digests = r
        sizes = [min(CHUNK_SIZE, size - i * CHUNK_SIZE) for i in range(len(digests))]
        if size != v["size"] or [cid_text(d) for d in digests] != v["chunks"] or sizes != v["sizes"]:
            return "root read as %d bytes, %r" % (size, sizes)
    return None


def check_manifest_vector(v):
    got, p = outcome(lambda: check_manifest(bytes.fromhex(v["hex"]), peerid.unb58(v["owner"]), v["resource"],
                                            peerid.unb58(v["reader"]), unix(v["now"])))
    if got != v["want"]:
        return "got %s, want %s" % (got, v["want"])
    if p and p["version"] != v["version"]:
        return "version %d, want %d" % (p["version"], v["version"])
    return None


def read_sealed(manifest, blocks, seed):
    """"Reading" after the manifest: the root, each chunk, then the age file."""
    if hashlib.sha256(blocks[0]).digest() != manifest["root"][4:]:
        raise Refusal("Swapped")
    size, digests = parse_root(blocks[0])
    if size != manifest["size"]:
        raise Refusal("Malformed")
    sealed = b""
    for i, d in enumerate(digests):
        if i + 1 >= len(blocks):
            raise Refusal("Truncated")
        c = blocks[i + 1]
        if hashlib.sha256(c).digest() != d:
            raise Refusal("Swapped")
        if len(c) != min(CHUNK_SIZE, size - i * CHUNK_SIZE):
            raise Refusal("Malformed")
        sealed += c
    try:
        return open_sealed(sealed, seed)
    except NotRecipient:
        raise Refusal("NotRecipient")
    except Refused:
        raise Refusal("Malformed")


def check_sealed(v):
    seed = bytes.fromhex(v["reader_seed"])
    reader = peerid.PREFIX + ed25519.public_from_seed(seed)
    alice = peerid.PREFIX + ed25519.public_from_seed(hashlib.sha256(b"ocmt-mesh test key alice").digest())
    epoch = unix("2026-03-01T12:00:00Z")
    m = check_manifest(bytes.fromhex(v["manifest"]), alice, "calendar/work", reader, epoch)
    pt = read_sealed(m, [bytes.fromhex(b) for b in v["blocks"]], seed)
    return None if pt.hex() == v["plaintext"] else "read %r" % pt


def parse_request(b):
    try:
        r = cbor.decode(b, REQUEST)
    except cbor.Malformed:
        raise Refusal("BadRequest")
    has = {k for k in ("manifest", "owner", "resource", "token") if k in r}
    if r["op"] == 1:
        if has != {"manifest"} or len(r["manifest"]) > MAX_MANIFEST_BYTES:
            raise Refusal("BadRequest")
        return "push"
    if r["op"] == 2:
        if has != {"owner", "resource", "token"} or len(r["token"]) > MAX_TOKEN_BYTES:
            raise Refusal("BadRequest")
        if tokens.segments(r["resource"], False) is None or peerid.problem(r["owner"]):
            raise Refusal("BadRequest")
        return "fetch"
    raise Refusal("BadRequest")


def check_request(v):
    got, op = outcome(lambda: parse_request(bytes.fromhex(v["hex"])))
    got = op or got
    return None if got == v["want"] else "got %s, want %s" % (got, v["want"])


if __name__ == "__main__":
    r = vectors.Report("snapshot")
    for rel, fn in (("internal/snapshot/testdata/keyids.json", check_key_ids),
                    ("internal/snapshot/testdata/roots.json", check_root),
                    ("internal/snapshot/testdata/manifests.json", check_manifest_vector),
                    ("internal/snapshot/testdata/sealed.json", check_sealed),
                    ("protocols/snapshot/testdata/requests.json", check_request)):
        for v in vectors.load(rel):
            r.check("%s: %s" % (os.path.basename(rel), v.get("name", v.get("peer", "?"))), fn, v)
    r.finish()
