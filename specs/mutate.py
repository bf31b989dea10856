"""Checks that a set of vectors pins every rule a checker implements, by
running the checker with one rule misread at a time: each mutant is a
textual edit of the checker's source (a limit off by one, a check
dropped, an order reversed), made the way an implementer plausibly
might. A mutant that agrees with every vector is a rule no vector pins,
and so is a mutant whose text is not found exactly once in the source
(the checker changed: update the mutant). Shared by the mutants.py of
the checkers under specs/.

A checker used this way defines run(report), which checks every vector
into a vectors.Report without exiting.
"""

import os
import sys
import time
import types

import vectors


def run(name, checker, mutants):
    """Runs every mutant (description, old text, new text) of the checker
    at the path checker (relative to the module root); exits 1 when one
    survives or does not apply."""
    path = vectors.path(checker)
    with open(path, encoding="utf-8") as f:
        source = f.read()
    sys.path.insert(0, os.path.dirname(os.path.dirname(path)))
    t0, bad = time.time(), []
    for desc, old, new in mutants:
        if source.count(old) != 1:
            bad.append("%s: its text is found %d times in %s" % (desc, source.count(old), checker))
            continue
        mod = types.ModuleType("mutant")
        mod.__file__ = path
        try:
            exec(compile(source.replace(old, new), path, "exec"), mod.__dict__)
        except Exception as e:
            bad.append("%s: does not load (%s)" % (desc, e))
            continue
        report = vectors.Report(desc)
        try:
            mod.run(report)
        except Exception as e:  # a mutant that crashes disagrees
            report.bad.append("raised %s" % e)
        if not report.bad:
            bad.append("%s: survives (no vector pins this rule)" % desc)
    for b in bad:
        print("MUTANT %s" % b)
    print("%s: %d mutants, %d killed, %d not (%.2fs)" % (name, len(mutants), len(mutants) - len(bad), len(bad), time.time() - t0))
    if bad:
        sys.exit(1)
