"""Checks that protocols/wake/testdata/requests.json pins every rule
check.py implements: check.py run with one rule of protocols/wake/doc.go
misread at a time (specs/mutate.py) must disagree with some vector each
time.

    python3 -B specs/wake/mutants.py

UNPINNED lists the misreadings no committed vector refuses yet, each with
the vector that would: each must still agree with every vector (it is
run, and one that a vector now refuses is reported, to be moved to
MUTANTS). They are rules an implementation can get wrong today without a
vector saying so.

Not mutants, because no request can tell them apart from check.py:

- an until of 0 refused or not by the "before 1970" rule: 0 is refused
  as an optional field's explicit zero (internal/wire "CBOR") before the
  rule is read;
- until read as unsigned: a negative until is refused either way (as no
  unsigned integer, or as before 1970), BadRequest both;
- op as a wider integer than uint8: op 256 and above is unknown either
  way;
- the handle's length in characters rather than bytes: its bytes are
  ASCII.

The canonical decode's own rules (explicit zeros, unknown fields,
duplicate keys, shortest heads) are specs/cbor.py's, shared by every
checker, and are not misread here.
"""

import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mutate  # noqa: E402
import vectors  # noqa: E402

CHECKER = "specs/wake/check.py"

MUTANTS = [
    # Step 3: the op and the fields per op.
    ("an unknown op read as one without fields",
     'spec = OPS.get(f["op"])', 'spec = OPS.get(f["op"], ("op %d" % f["op"], set(), set()))'),
    ("ops counted from 0", "    1: (\"hibernate\"", "    0: (\"hibernate\""),
    ("a field the op does not list ignored",
     'if field != "op" and field not in required and field not in optional:', "if False:"),
    ("a hibernate's handle optional", '1: ("hibernate", {"handle"}, {"half", "until"})',
     '1: ("hibernate", set(), {"handle", "half", "until"})'),
    ("a hibernate refuses a half", '1: ("hibernate", {"handle"}, {"half", "until"})',
     '1: ("hibernate", {"handle"}, set())'),
    ("a wake's token optional", '2: ("wake", {"owner", "token"}, set())', '2: ("wake", {"owner"}, {"token"})'),
    ("a wake's owner optional", '2: ("wake", {"owner", "token"}, set())', '2: ("wake", {"token"}, {"owner"})'),
    ("a wake may name a handle (the owner's)", '2: ("wake", {"owner", "token"}, set())',
     '2: ("wake", {"owner", "token"}, {"handle"})'),
    ("a resume may name an owner", '3: ("resume", set(), set())', '3: ("resume", set(), {"owner"})'),
    # Step 4: each field's form.
    ("capitals in handles", 'HANDLE_BYTES = "abcdefghijklmnopqrstuvwxyz0123456789-_"',
     'HANDLE_BYTES = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"'),
    ("the owner not checked as a peer ID", 'if "owner" in f and peerid.problem(f["owner"]):', "if False:"),
    ("a half of 257 bytes", "MAX_HALF = 256", "MAX_HALF = 257"),
    ("a half of at most 255 bytes", "MAX_HALF = 256", "MAX_HALF = 255"),
    ("a half over the cap is BadRequest", 'raise Bad("TooLarge", "a half', 'raise Bad("BadRequest", "a half'),
    ("a half without an until kept until the asleep state lapses",
     'if "half" in f and "until" not in f:', "if False:"),
    ("an until without a half ignored", 'if "until" in f and "half" not in f:', "if False:"),
    ("an until before 1970 accepted (it lapses at once)", 'if "until" in f and f["until"] < 0:', "if False:"),
    # Pinned by the field-form vectors (edges of handles, owners, tokens, until; step order).
    ('a forget may carry a half and its until (to delete)',
     '4: ("forget", set(), set())',
     '4: ("forget", set(), {"half", "until"})'),
    ('a handle of 1 byte',
     'MIN_HANDLE, MAX_HANDLE = 2, 32',
     'MIN_HANDLE, MAX_HANDLE = 1, 32'),
    ('a handle of at least 3 bytes',
     'MIN_HANDLE, MAX_HANDLE = 2, 32',
     'MIN_HANDLE, MAX_HANDLE = 3, 32'),
    ('a handle of 33 bytes',
     'MIN_HANDLE, MAX_HANDLE = 2, 32',
     'MIN_HANDLE, MAX_HANDLE = 2, 33'),
    ('a handle of at most 31 bytes',
     'MIN_HANDLE, MAX_HANDLE = 2, 32',
     'MIN_HANDLE, MAX_HANDLE = 2, 31'),
    ("no digits, '-' or '_' in handles",
     'HANDLE_BYTES = "abcdefghijklmnopqrstuvwxyz0123456789-_"',
     'HANDLE_BYTES = "abcdefghijklmnopqrstuvwxyz"'),
    ('the owner checked by its length only',
     'if "owner" in f and peerid.problem(f["owner"]):',
     'if "owner" in f and len(f["owner"]) != 38:'),
    ('a token of 4097 bytes',
     'MAX_TOKEN = 4096',
     'MAX_TOKEN = 4097'),
    ('an until past 2^63 - 1 accepted',
     '(4, "until", cbor.INT, False)',
     '(4, "until", cbor.UINT, False)'),
    ('the form of the fields checked before the fields per op',
     '    # Step 3: the op and the fields per op.\n',
     '    if "half" in f and len(f["half"]) > MAX_HALF:\n        raise Bad("TooLarge", "")\n    # Step 3: the op and the fields per op.\n'),
    ("a half without an until checked before the half's size",
     '    if "half" in f and len(f["half"]) > MAX_HALF:\n',
     '    if "half" in f and "until" not in f:\n        raise Bad("BadRequest", "")\n    if "half" in f and len(f["half"]) > MAX_HALF:\n'),
]

UNPINNED = [
    # (misreading, old, new, the vector that would refuse it)
    ('a token of at most 4095 bytes', 'MAX_TOKEN = 4096',
     'MAX_TOKEN = 4095',
     'a wake with a token of 4096 bytes: wake'),
]

# Used by the "form checked first" mutant: step 4 of check.py, run before step 3.
FORM = '''
def form(f):
    if "half" in f and len(f["half"]) > MAX_HALF:
        raise Bad("TooLarge", "")
'''


def unpinned():
    """The misreadings of UNPINNED that a vector now refuses."""
    path = vectors.path(CHECKER)
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    bad = []
    for desc, old, new, vec in UNPINNED:
        if source.count(old) != 1:
            bad.append("%s: its text is found %d times in %s" % (desc, source.count(old), CHECKER))
            continue
        mod = types.ModuleType("mutant")
        mod.__file__ = path
        exec(compile(source.replace(old, new) + FORM, path, "exec"), mod.__dict__)
        report = vectors.Report(desc)
        mod.run(report)
        if report.bad:
            bad.append("%s: a vector now pins it (%s); move it to MUTANTS" % (desc, report.bad[0]))
        else:
            print("UNPINNED %s (would be pinned by: %s)" % (desc, vec))
    return bad


if __name__ == "__main__":
    stale = unpinned()
    for b in stale:
        print("MUTANT %s" % b)
    if stale:
        sys.exit(1)
    mutate.run("wake mutants", CHECKER, MUTANTS)
