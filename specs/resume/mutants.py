"""Checks that internal/resume/testdata/vectors.json pins every rule
check.py implements: check.py run with one rule of internal/resume/doc.go
misread at a time (specs/mutate.py) must disagree with some vector each
time.

    python3 -B specs/resume/mutants.py

Not mutants, because no vector can tell them apart from check.py:

- MaxSealedHalf one higher or lower: the sealed half of a 49-byte
  plaintext to one peer is always 249 bytes (internal/peerseal's
  overhead is fixed), so every half over 256 bytes fails to open or is no
  half anyway (BadHalf either way), and none of 250 to 256 bytes opens
  as a half;
- until read as unsigned: an until before 1970 cannot be after any now a
  vector gives, and a file with one is Expired either way.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mutate  # noqa: E402

MUTANTS = [
    # Step 1: the file.
    ("a file that is not a resume file kept", 'raise Refused("Damaged", False)\n    if len(b) < len(MAGIC):',
     'raise Refused("Damaged", True)\n    if len(b) < len(MAGIC):'),
    ("the magic without its version byte is another format",
     'if len(b) < len(MAGIC):\n        raise Refused("Damaged", False)', 'if len(b) < len(MAGIC):\n        raise Refused("Format", True)'),
    ("a file of another format deleted", 'raise Refused("Format", True)', 'raise Refused("Format", False)'),
    ("another format read as not a resume file", 'raise Refused("Format", True)', 'raise Refused("Damaged", False)'),
    ("the size checked before the version",
     '    if b[len(MAGIC) - 1] != VERSION:\n        raise Refused("Format", True)\n    if len(b) != FILE_SIZE:\n        raise Refused("Damaged", False)\n',
     '    if len(b) != FILE_SIZE:\n        raise Refused("Damaged", False)\n    if b[len(MAGIC) - 1] != VERSION:\n        raise Refused("Format", True)\n'),
    ("a longer file read by its first FileSize bytes", "if len(b) != FILE_SIZE:", "if len(b) < FILE_SIZE:"),
    # Steps 2 and 3: the vault and the window.
    ("the vault not checked", 'if f["vault_id"] != bytes.fromhex(v["vault_id"]):', "if False:"),
    ("another vault's file deleted", 'raise Refused("OtherVault", True)', 'raise Refused("OtherVault", False)'),
    ("the window checked before the vault",
     '        if f["vault_id"] != bytes.fromhex(v["vault_id"]):\n            raise Refused("OtherVault", True)\n        if not v["now"] < f["until"]:\n            raise Refused("Expired", False)\n',
     '        if not v["now"] < f["until"]:\n            raise Refused("Expired", False)\n        if f["vault_id"] != bytes.fromhex(v["vault_id"]):\n            raise Refused("OtherVault", True)\n'),
    ("until inclusive", 'if not v["now"] < f["until"]:', 'if not v["now"] <= f["until"]:'),
    ("the window not checked (the wrap checks it)", 'if not v["now"] < f["until"]:', "if False:"),
    ("an expired file kept", 'raise Refused("Expired", False)', 'raise Refused("Expired", True)'),
    # Step 4: the half.
    ("a half that does not open deletes the file", "except (peerseal.Refused, peerseal.NotRecipient):\n            raise Refused(\"BadHalf\", True)",
     "except (peerseal.Refused, peerseal.NotRecipient):\n            raise Refused(\"BadHalf\", False)"),
    ("the half's version not checked", "if len(pt) != HALF_PLAINTEXT or pt[0] != HALF_VERSION:", "if len(pt) != HALF_PLAINTEXT:"),
    ("a longer half read by its first 49 bytes", "if len(pt) != HALF_PLAINTEXT or", "if len(pt) < HALF_PLAINTEXT or"),
    ("a half of another hibernation is a bad half", 'raise Refused("OtherHibernation", True)', 'raise Refused("BadHalf", True)'),
    ("a half of another hibernation deletes the file", 'raise Refused("OtherHibernation", True)', 'raise Refused("OtherHibernation", False)'),
    ("the hibernation ID not checked (the tag fails anyway)", 'if pt[1:1 + HIB_ID] != f["hib_id"]:', "if False:"),
    # Step 5: the key and the tag.
    ("R is W alone", 'r = bytes(a ^ b for a, b in zip(f["half"], pt[1 + HIB_ID:]))', "r = pt[1 + HIB_ID:]"),
    ("HKDF's salt and info swapped", 'xcrypto.hkdf(r, f["vault_id"], LABEL)', 'xcrypto.hkdf(r, LABEL, f["vault_id"])'),
    ("HKDF without the vault ID", 'xcrypto.hkdf(r, f["vault_id"], LABEL)', 'xcrypto.hkdf(r, b"", LABEL)'),
    ("the tag without the 0x00 after the label", 'LABEL + b"\\x00" + f["body"]', 'LABEL + f["body"]'),
    ("the tag without the label", 'LABEL + b"\\x00" + f["body"]', 'f["body"]'),
    ("the tag over the file after its magic", 'f["body"], f["tag"] = b[:p],', 'f["body"], f["tag"] = b[len(MAGIC):p],'),
    ("a tag that fails keeps the file", 'raise Refused("Damaged", False)\n    except Refused', 'raise Refused("Damaged", True)\n    except Refused'),
    ("a tag that fails blames the half", 'raise Refused("Damaged", False)\n    except Refused', 'raise Refused("BadHalf", True)\n    except Refused'),
]

if __name__ == "__main__":
    mutate.run("resume mutants", "specs/resume/check.py", MUTANTS)
