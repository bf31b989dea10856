"""Checks internal/resume/testdata/vectors.json against internal/resume/doc.go:
a woken node's Resume, steps 1 to 6 of doc.go "Resume, in order", on the
home file and the waker's half of each vector, with the node's seed, the
resuming vault's ID and the time the vector gives. It compares the
outcome (ok or the error's name), whether the file is still there after,
and on success the resume key R = H XOR W.

  1. the file: none is NoResume; one that does not begin with the magic's
     first seven bytes "OCMTRSM" is not a resume file (Damaged, deleted);
     an eighth byte other than the version (1) is another format (Format,
     kept), whatever the length; a resume file not FileSize (220) bytes is
     Damaged (deleted);
  2. the file's vault ID must be the vault's (OtherVault, kept);
  3. now (unix nanoseconds) must be before until, else Expired (deleted);
  4. the sealed half, at most MaxSealedHalf (256) bytes, must open with
     the node's peer key (specs/peerseal/check.py: age v1, X25519 from the
     Ed25519 seed) and be 0x01 || hibernation ID || W, 49 bytes (BadHalf,
     kept); its hibernation ID must be the file's (OtherHibernation, kept);
  5. R = H XOR W; the tag must be HMAC-SHA256(K_file, label || 0x00 ||
     the file before the tag) with K_file = HKDF-SHA256(R, salt vault ID,
     info label), label "ocmt-mesh/resume-file/v1" (Damaged, deleted);
  6. the file is deleted; the outcome is ok.

What it cannot check: step 1's "whose wrap names another vault or until"
(the resume wrap's layout is vault/resume.go's, not in any doc.go: the
wrap is opaque here), and step 7, opening the wrap with R. The vectors
with an altered wrap are altered where the tag catches it; on the ok
vectors the Go test has run the real Resume and unlocked a vault.

    python3 -B specs/resume/check.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import vectors  # noqa: E402
import xcrypto  # noqa: E402
from peerseal import check as peerseal  # noqa: E402  (internal/peerseal "Sealed format")

VECTORS = "internal/resume/testdata/vectors.json"

MAGIC = b"OCMTRSM\x01"
VERSION = 1
VAULT_ID, UNTIL, HIB_ID, KEY, WRAP, TAG = 16, 8, 16, 32, 108, 32
FILE_SIZE = len(MAGIC) + VAULT_ID + UNTIL + HIB_ID + KEY + WRAP + TAG
HALF_PLAINTEXT = 1 + HIB_ID + KEY
HALF_VERSION = 1
MAX_SEALED_HALF = 256
LABEL = b"ocmt-mesh/resume-file/v1"


class Refused(Exception):
    """args: (error name, whether the file is kept)."""


def parse_file(b):
    """The home file's fields, or raise Refused (step 1)."""
    if len(b) < len(MAGIC) - 1 or b[:len(MAGIC) - 1] != MAGIC[:-1]:
        raise Refused("Damaged", False)
    if len(b) < len(MAGIC):
        raise Refused("Damaged", False)
    if b[len(MAGIC) - 1] != VERSION:
        raise Refused("Format", True)
    if len(b) != FILE_SIZE:
        raise Refused("Damaged", False)
    f, p = {}, len(MAGIC)
    for name, n in (("vault_id", VAULT_ID), ("until", UNTIL), ("hib_id", HIB_ID), ("half", KEY), ("wrap", WRAP)):
        f[name] = b[p:p + n]
        p += n
    f["until"] = int.from_bytes(f["until"], "big", signed=True)
    f["body"], f["tag"] = b[:p], b[p:p + TAG]
    return f


def resume(v):
    """(outcome, kept, R or None) of Resume on the vector v."""
    if v.get("nofile"):
        return "NoResume", False, None
    try:
        f = parse_file(bytes.fromhex(v.get("file", "")))
        if f["vault_id"] != bytes.fromhex(v["vault_id"]):
            raise Refused("OtherVault", True)
        if not v["now"] < f["until"]:
            raise Refused("Expired", False)
        half = bytes.fromhex(v.get("half", ""))
        if len(half) > MAX_SEALED_HALF:
            raise Refused("BadHalf", True)
        try:
            pt = peerseal.open_sealed(half, bytes.fromhex(v["seed"]))
        except (peerseal.Refused, peerseal.NotRecipient):
            raise Refused("BadHalf", True)
        if len(pt) != HALF_PLAINTEXT or pt[0] != HALF_VERSION:
            raise Refused("BadHalf", True)
        if pt[1:1 + HIB_ID] != f["hib_id"]:
            raise Refused("OtherHibernation", True)
        r = bytes(a ^ b for a, b in zip(f["half"], pt[1 + HIB_ID:]))
        k_file = xcrypto.hkdf(r, f["vault_id"], LABEL)
        if xcrypto.hmac_sha256(k_file, LABEL + b"\x00" + f["body"]) != f["tag"]:
            raise Refused("Damaged", False)
    except Refused as e:
        return e.args[0], e.args[1], None
    return "ok", False, r


def check(v):
    got, kept, r = resume(v)
    if got != v["want"]:
        return "got %s, want %s" % (got, v["want"])
    if kept != v["kept"]:
        return "%s with the file %s, want it %s" % (got, "kept" if kept else "deleted", "kept" if v["kept"] else "deleted")
    if (r.hex() if r else "") != v.get("resume_key", ""):
        return "resume key %s, want %s" % (r.hex() if r else "none", v.get("resume_key") or "none")
    return None


def run(report):
    """Checks every vector into report (a vectors.Report)."""
    for v in vectors.load(VECTORS):
        report.check("%s: %s" % (VECTORS, v["name"]), check, v)


if __name__ == "__main__":
    r = vectors.Report("resume")
    run(r)
    r.finish()
