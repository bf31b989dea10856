"""Checks that vault/testdata/audit pins every rule check.py implements:
check.py run with one rule of vault/doc.go ("Audit log") misread at a
time (specs/mutate.py) must disagree with some vector each time.

    python3 -B specs/vaultaudit/mutants.py

A record must be byte for byte its own canonical encoding, so how a
reader would have read other bytes (a fraction, a number for a text,
what follows the object, an unknown member) decides nothing: those
readings are not mutants.
"""

import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argon2  # noqa: E402
import mutate  # noqa: E402
import xcrypto  # noqa: E402

MUTANTS = [
    # The canonical encoding J.
    ("'<', '>', '&' not escaped", 'elif c < 0x20 or ch in "<>&" or c in (0x2028, 0x2029):',
     "elif c < 0x20 or c in (0x2028, 0x2029):"),
    ("U+2028 and U+2029 not escaped", 'elif c < 0x20 or ch in "<>&" or c in (0x2028, 0x2029):',
     'elif c < 0x20 or ch in "<>&":'),
    ("U+007F escaped", 'elif c < 0x20 or ch in "<>&" or c in (0x2028, 0x2029):',
     'elif c < 0x20 or c == 0x7f or ch in "<>&" or c in (0x2028, 0x2029):'),
    ("U+0008 as \\u0008 (Go before 1.22)", 'elif ch == "\\b":\n            out.append("\\\\b")',
     'elif ch == "\\b":\n            out.append("\\\\u0008")'),
    ("\\u escapes in upper-case hex", 'out.append("\\\\u%04x" % c)', 'out.append("\\\\u%04X" % c)'),
    ("non-ASCII escaped", "        else:\n            out.append(ch)\n",
     "        elif c > 0x7e:\n            out.append(\"\\\\u%04x\" % c)\n        else:\n            out.append(ch)\n"),
    ("nanoseconds not trimmed", '("%09d" % ns).rstrip("0")', '("%09d" % ns)'),
    ("offset 0 written +00:00", 'zone = "Z"', 'zone = "+00:00"'),
    ("outcome left out when empty", '("outcome", "str", False)', '("outcome", "str", True)'),
    ("detail written when empty", '("detail", "str", True)', '("detail", "str", False)'),
    ("gen written when 0", '("gen", "u32", True)', '("gen", "u32", False)'),
    ("locked written when false", '("locked", "bool", True)', '("locked", "bool", False)'),
    ("v before vault reversed", '("v", "i64", True),\n          ("vault", "str", True)', '("vault", "str", True),\n          ("v", "i64", True)'),
    ("J keeps the hash", 'if name == "hash" and not with_hash:', "if False:"),
    ("J leaves hash out", 'if name == "hash" and not with_hash:\n            x = ""', 'if name == "hash" and not with_hash:\n            continue'),
    # Chain values and tags.
    ("format-1 hash without the label", 'hashlib.sha256(L_AUDIT + b"\\x00" + encode(r, False))', "hashlib.sha256(encode(r, False))"),
    ("MAC without the zero byte", 'return xcrypto.hmac_sha256(key, label + b"\\x00" + msg)', "return xcrypto.hmac_sha256(key, label + msg)"),
    ("locked records tagged with the unlocked label", "if mac(st[\"session\"], L_LOCKED, j) != chain:", "if mac(st[\"session\"], L_AUDIT, j) != chain:"),
    ("session AAD without seq", 'struct.pack(">IQ", gen, seq)', 'struct.pack(">I", gen)'),
    ("session key salt without the recipient's key", "xcrypto.hkdf(shared, sealed[:32] + pub, L_SESSION)", "xcrypto.hkdf(shared, sealed[:32], L_SESSION)"),
    ("all-zero X25519 result accepted", "if shared == bytes(32):\n        return None", "if False:\n        return None"),
    ("head tag without the vault ID", 'signed = vault_id + struct.pack(">Q", h["seq"])', 'signed = struct.pack(">Q", h["seq"])'),
    ("head tag not checked", 'if mac(st["last_key"], L_HEAD, signed) != h["tag"]:', "if False:"),
    ("head's index tag not checked", 'if h["index"] != index_tag:', "if False:"),
    ("a head with no key for the last record accepted", 'if st["last_key"] is None:', "if False:"),
    ("unknown generation uses the current key", 'k = keys.get(r["gen"])\n            if k is None or',
     'k = keys.get(r["gen"], max(keys.items())[1] if keys else None)\n            if k is None or'),
    # The walk.
    ("records taken by sequence number, not key order", 'entries = sorted((k, v) for k, v in store.items() if k.startswith("/audit/"))',
     'entries = sorted(((k, v) for k, v in store.items() if k.startswith("/audit/")), key=lambda e: e[0].lower())'),
    ("keys in lower-case hex only", 'not re.fullmatch(r"[0-9a-fA-F]{16}", name)', 'not re.fullmatch(r"[0-9a-f]{16}", name)'),
    ("a record's seq not compared with its key", 'if r["seq"] != seq:\n            raise', "if False:\n            raise"),
    ("a gap allowed anywhere", "if gap and not is_break:", "if False:"),
    ("a gap reported at its end", 'raise Break("record-changed", want)\n        if r["v"] == 0:', 'raise Break("record-changed", seq)\n        if r["v"] == 0:'),
    ("format 1 after format 2 accepted", 'if st["saw_v2"]:', "if False:"),
    ("any v accepted as format 2", 'elif r["v"] != 2:', "elif False:"),
    ("the vault ID not compared", 'if vault_hex and r["vault"] != vault_hex:', "if False:"),
    ("a break record must link", "if not prev_ok and not gap and not is_break:", "if not prev_ok and not gap:"),
    ("prev not checked", "if not prev_ok and not gap and not is_break:", "if False:"),
    ("prev compared ignoring case", 'prev_ok = r["prev"] == st["prev"].hex()', 'prev_ok = r["prev"].lower() == st["prev"].hex()'),
    ("record 1 must link to the previous record", ' or (seq == 1 and r["prev"] == ZEROS)', ""),
    ("hash in lower-case hex only", 'if not re.fullmatch(r"[0-9a-fA-F]{64}", s):', 'if not re.fullmatch(r"[0-9a-f]{64}", s):'),
    ("a locked record needs no session", 'if r["session"] == "" and not st["has_sess"]:', "if False:"),
    ("a session survives an unlocked record", 'st["has_sess"], st["session"] = False, None\n            if keys is None:',
     "if keys is None:"),
    ("break records' kinds taken as written", 'reported.append((r["target"] if r["target"] in KINDS else "record-changed", seq))',
     'reported.append((r["target"], seq))'),
    ("break records not reported", 'reported.append((r["target"] if r["target"] in KINDS else "record-changed", seq))', "pass"),
    ("records of 8193 bytes", "MAX_RECORD = 8192", "MAX_RECORD = 8193"),
    ("records of at most 8191 bytes", "MAX_RECORD = 8192", "MAX_RECORD = 8191"),
    # The head.
    ("no head and no record is fine even in a vault", "if not out and not vault_hex:", "if not out:"),
    ("no head and no record is all-deleted even without a vault", "if not out and not vault_hex:\n                return", "if False:\n                return"),
    ("a missing head is all-deleted", 'raise Break("head-deleted", 0)\n        if len(head) == 40:', 'raise Break("all-deleted", 0)\n        if len(head) == 40:'),
    ("records counted before the head is read", "if len(head) == 40:", 'if not out:\n            raise Break("all-deleted", 1)\n        if len(head) == 40:'),
    ("records counted before the head's record 0", 'if h["seq"] == 0:', 'if not out:\n            raise Break("all-deleted", 1)\n        if h["seq"] == 0:'),
    ("a head naming record 0 accepted", 'if h["seq"] == 0:\n            raise Break("head-deleted", 0)', 'if False:\n            raise Break("head-deleted", 0)'),
    ("a head naming a later record is head-rewound", 'raise Break("tail-deleted", last + 1)\n        if h["seq"] < last:', 'raise Break("head-rewound", 0)\n        if h["seq"] < last:'),
    ("a head naming an earlier record is tail-deleted", 'raise Break("head-rewound", 0)\n        if h["chain"] != st["prev"]:', 'raise Break("tail-deleted", last + 1)\n        if h["chain"] != st["prev"]:'),
    ("the head's chain value not compared", 'if h["chain"] != st["prev"]:', "if False:"),
    ("a format-1 head accepted in a format-2 vault", 'if fmt == 2 and h["format"] != 2:', "if False:"),
    ("a format-2 vault may end in format 1", 'if fmt == 2 and out[-1]["v"] != 2:', "if False:"),
    ("the vault header's magic not checked", 'if len(hb) != 24 or hb[:8] not in (b"OCMTVLT\\x01", b"OCMTVLT\\x02"):', "if len(hb) != 24:"),
]


def _memo(f):
    cache = {}

    @functools.wraps(f)
    def g(*args):
        if args not in cache:
            cache[args] = f(*args)
        return cache[args]
    return g


if __name__ == "__main__":
    for name in ("xaead_open", "x25519", "hkdf", "hmac_sha256"):
        setattr(xcrypto, name, _memo(getattr(xcrypto, name)))
    argon2.argon2id = _memo(argon2.argon2id)
    mutate.run("vaultaudit mutants", "specs/vaultaudit/check.py", MUTANTS)
