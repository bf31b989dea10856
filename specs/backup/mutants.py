"""Checks that internal/backup/testdata pins every rule check.py
implements: check.py run with one rule of internal/backup/doc.go misread
at a time (specs/mutate.py) must disagree with some vector each time.

    python3 -B specs/backup/mutants.py

Not mutants, because no file can tell them apart from check.py:

- a value cap one higher (MaxValueSize + 1 accepted): a vector can only
  declare such a value, not carry it, and a reader that read it first
  would refuse the file at the end of its content anyway
  (testdata/README.md);
- the least header length (73), a wrap count of at least 1 and a key of
  at least 1 byte: each follows from other rules (a header of 72 bytes
  or without a wrap cannot end its last wrap exactly at H with the
  fixed 68 bytes before; an empty key has no "/" first), so a reader
  without them refuses the same files with the same error.

A mutant that accepts a password wrap over the KDF caps would run
Argon2id on up to 1 GiB in pure Python: here Argon2id refuses more than
64 MiB, so such a mutant fails at once (as a reader that did the work
would fail its users).
"""

import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argon2  # noqa: E402
import mutate  # noqa: E402
import xcrypto  # noqa: E402

MUTANTS = [
    # The header.
    ("a file shorter than the magic is not_backup even when it begins it",
     'raise Refused("truncated")\n    h = ', 'raise Refused("not_backup" if n < 7 else "truncated")\n    h = '),
    ("the version is read only when the length follows",
     "if n >= 8 and data[7] != VERSION:", "if n >= 10 and data[7] != VERSION:"),
    ("a file cut inside the header is header, not truncated",
     'if len(data) < h:\n        raise Refused("truncated")', 'if len(data) < h:\n        raise Refused("header")'),
    ("the header cap one higher", "MAX_HEADER = 4096", "MAX_HEADER = 4097"),
    ("the header cap one lower", "MAX_HEADER = 4096", "MAX_HEADER = 4095"),
    ("the chunk log's range one wider below", "MIN_LOG, MAX_LOG = 10, 20", "MIN_LOG, MAX_LOG = 9, 20"),
    ("the chunk log's range one wider above", "MIN_LOG, MAX_LOG = 10, 20", "MIN_LOG, MAX_LOG = 10, 21"),
    ("the chunk log's range one narrower above", "MIN_LOG, MAX_LOG = 10, 20", "MIN_LOG, MAX_LOG = 10, 19"),
    ("nine wraps", "MAX_WRAPS = 8", "MAX_WRAPS = 9"),
    ("seven wraps", "MAX_WRAPS = 8", "MAX_WRAPS = 7"),
    ("a kind of 33 bytes", "MAX_KIND = 32", "MAX_KIND = 33"),
    ("a kind of at most 31 bytes", "MAX_KIND = 32", "MAX_KIND = 31"),
    ("an empty kind", "not 1 <= klen <= MAX_KIND", "not 0 <= klen <= MAX_KIND"),
    ("upper case in kinds", 'KIND_BYTES = set(b"abcdefghijklmnopqrstuvwxyz0123456789-")',
     'KIND_BYTES = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")'),
    ("_ in kinds", 'KIND_BYTES = set(b"abcdefghijklmnopqrstuvwxyz0123456789-")',
     'KIND_BYTES = set(b"abcdefghijklmnopqrstuvwxyz0123456789-_")'),
    ("a repeated kind", "if prev is not None and kind <= prev:", "if prev is not None and kind < prev:"),
    ("kinds unordered", "if prev is not None and kind <= prev:", "if False:"),
    ("kinds ordered shortest first", "if prev is not None and kind <= prev:",
     "if prev is not None and (len(kind), kind) <= (len(prev), prev):"),
    ("a wrap of 1025 bytes", "MAX_WRAP = 1024", "MAX_WRAP = 1025"),
    ("a wrap of at most 1023 bytes", "MAX_WRAP = 1024", "MAX_WRAP = 1023"),
    ("an empty wrap", "not 1 <= dlen <= MAX_WRAP", "not 0 <= dlen <= MAX_WRAP"),
    ("bytes after the last wrap ignored", "if pos != h:\n        raise", "if pos > h:\n        raise"),
    # The key.
    ("no password wrap is a wrong password", 'if data is None:\n        raise Refused("header")',
     'if data is None:\n        raise Refused("bad_password")'),
    ("another KDF id read as Argon2id", "if kdf != 1 or t < 1", "if t < 1"),
    ("zero passes", "if kdf != 1 or t < 1", "if kdf != 1 or t < 0"),
    ("the memory cap one higher", "MAX_KDF_MEMORY, MAX_KDF_TIME, MAX_KDF_THREADS = 1 << 20, 16, 16",
     "MAX_KDF_MEMORY, MAX_KDF_TIME, MAX_KDF_THREADS = (1 << 20) + 1, 16, 16"),
    ("a short wrap read", "if len(data) == size and data.startswith(magic):", "if len(data) >= size - 1 and data.startswith(magic):"),
    ("the wrap's AAD without the vault ID", "label + vault_id + data[:prefix]", "label + data[:prefix]"),
    ("the backup key without the salt", 'f["vault_id"] + f["salt"], b"ocmt-mesh/backup/v1"', 'f["vault_id"], b"ocmt-mesh/backup/v1"'),
    # The chunks.
    ("the AAD is the header without its wraps", "hashlib.sha256(raw).digest()", "hashlib.sha256(raw[:FIXED]).digest()"),
    ("a final piece of 16 bytes opened", "if len(piece) <= TAG:", "if len(piece) < TAG:"),
    ("a file cut at a chunk boundary is altered",
     "if final and xcrypto.xaead_open(self.key, self.nonce(False), piece, self.aad) is not None:", "if False:"),
    ("the last flag ignored: every chunk opened as not last",
     "pt = xcrypto.xaead_open(self.key, self.nonce(final), piece, self.aad)",
     "pt = xcrypto.xaead_open(self.key, self.nonce(False), piece, self.aad)"),
    ("a chunk that opens as last may be followed by more",
     "pt = xcrypto.xaead_open(self.key, self.nonce(final), piece, self.aad)",
     "pt = xcrypto.xaead_open(self.key, self.nonce(final), piece, self.aad) or xcrypto.xaead_open(self.key, self.nonce(True), piece, self.aad)"),
    ("the counter counted from 1", "self.pos, self.counter, self.buf, self.done = 0, 0,", "self.pos, self.counter, self.buf, self.done = 0, 1,"),
    # The content.
    ("the identity anywhere, once", 'if need(stream, 1) != b"\\x01":\n        raise Refused("malformed")\n    seed = need(stream, 32)\n'
     '    entries, total, prev = [], 0, None\n    while True:\n        t = need(stream, 1)[0]\n',
     'seed = None\n    entries, total, prev = [], 0, None\n    while True:\n        t = need(stream, 1)[0]\n'
     '        if t == 1 and seed is None:\n            seed = need(stream, 32)\n            continue\n'),
    ("a second identity skipped", "if t != 2:\n", "if t == 1:\n            need(stream, 32)\n            continue\n        if t != 2:\n"),
    ("unknown record types skipped", "if t != 2:\n", "if t not in (1, 2):\n            continue\n        if t != 2:\n"),
    ("nothing checked after the end record", "if n != len(entries) or b != total or stream.read(1):", "if n != len(entries) or b != total:"),
    ("the end record's entry count not checked", "if n != len(entries) or b != total", "if b != total"),
    ("the end record counts record bytes", "total += klen + vlen", "total += 9 + klen + vlen"),
    ("a key of 65537 bytes", "if not 1 <= klen <= MAX_KEY:", "if not 1 <= klen <= MAX_KEY + 1:"),
    ("a key of at most 65535 bytes", "if not 1 <= klen <= MAX_KEY:", "if not 1 <= klen < MAX_KEY:"),
    ("a key without / first", 'if not k.startswith(b"/") or', "if"),
    ("a key with / last", ' or (len(k) > 1 and k.endswith(b"/"))', ""),
    ("keys go-datastore-clean (no //)", 'if not k.startswith(b"/") or', 'if b"//" in k or not k.startswith(b"/") or'),
    ("a repeated key", "if prev is not None and k <= prev:", "if prev is not None and k < prev:"),
    ("keys unordered", "if prev is not None and k <= prev:", "if False:"),
    ("keys ordered shortest first", "if prev is not None and k <= prev:",
     "if prev is not None and (len(k), k) <= (len(prev), prev):"),
    ("content that ends early is truncated", 'if len(b) != n:\n        raise Refused("malformed")',
     'if len(b) != n:\n        raise Refused("truncated")'),
]


def _memo(f):
    cache = {}

    @functools.wraps(f)
    def g(*args, **kw):
        k = (args, tuple(sorted(kw.items())))
        if k not in cache:
            cache[k] = f(*args, **kw)
        return cache[k]
    return g


def _capped(f):
    def g(password, salt, t, m, p, *args, **kw):
        if m > 64 << 10:
            raise RuntimeError("Argon2id asked for %d KiB" % m)
        return f(password, salt, t, m, p, *args, **kw)
    return g


if __name__ == "__main__":
    # The mutants share the primitives' results: opening the same chunk
    # under the same key gives the same answer whatever the mutant.
    xcrypto.xaead_open = _memo(xcrypto.xaead_open)
    argon2.argon2id = _memo(_capped(argon2.argon2id))
    mutate.run("backup mutants", "specs/backup/check.py", MUTANTS)
