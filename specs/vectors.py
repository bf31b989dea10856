"""Reading committed vector files and reporting agreement, shared by the
checkers under specs/. A checker calls run(path, check) where check(vector)
returns None when it agrees with the vector's expected outcome and a string
saying how it disagrees otherwise. The process exits 1 on any disagreement,
so the Go test that runs it fails.
"""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def path(*parts):
    return os.path.join(ROOT, *parts)


def load(rel):
    with open(path(rel), encoding="utf-8") as f:
        return json.load(f)


def blob(v, key="hex"):
    """A vector's bytes: "hex" (absent for the empty input), or "parts" (see
    the testdata READMEs): a list of hex strings and [hex, count] pairs,
    concatenated, for vectors too large to write out."""
    parts = v.get("parts")
    if parts is None:
        return bytes.fromhex(v.get(key, ""))  # absent: the empty input
    out = bytearray()
    for p in parts:
        if isinstance(p, str):
            out += bytes.fromhex(p)
        else:
            out += bytes.fromhex(p[0]) * p[1]
    return bytes(out)


class Report:
    def __init__(self, name):
        self.name, self.ok, self.bad, self.t0 = name, 0, [], time.time()

    def check(self, label, fn, *args):
        try:
            why = fn(*args)
        except Exception as e:  # a checker bug is a disagreement too
            why = "checker raised %s: %s" % (type(e).__name__, e)
        if why:
            self.bad.append("%s: %s" % (label, why))
        else:
            self.ok += 1

    def finish(self):
        dt = time.time() - self.t0
        for b in self.bad:
            print("DISAGREE %s" % b)
        print("%s: %d vectors agree, %d disagree (%.2fs)" % (self.name, self.ok, len(self.bad), dt))
        if self.bad or self.ok == 0:
            sys.exit(1)


def run(name, rel, check, label=lambda v: v.get("name", "?")):
    """Check every vector of the file rel (relative to the module root)."""
    r = Report(name)
    for v in load(rel):
        r.check("%s: %s" % (rel, label(v)), check, v)
    r.finish()
