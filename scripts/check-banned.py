#!/usr/bin/python3
"""Fails when a .c file under src/ does not include core/banned.h last.

core/banned.h turns the functions src/ may not call (strcpy, sprintf, atoi,
gmtime, strerror, ...) into compile errors. It must come after every other
include, so that its macros cannot break the system headers that declare
those functions (docs/internals/conventions.md):

  scripts/check-banned.py              every .c file in src/ of this repository
  scripts/check-banned.py --root DIR   every .c file in DIR/src/ instead (used
                                       by the test that shows the check can fail)

Names each file that breaks the rule and exits 1 if any did.
"""

import re
import sys

from checklib import source_tree

BANNED = "core/banned.h"
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def problem(path):
    includes = [m.group(1) for m in map(INCLUDE.match, path.read_text().splitlines()) if m]
    if BANNED not in includes:
        return f"does not include {BANNED}"
    if includes[-1] != BANNED:
        return f"includes {includes[-1]} after {BANNED} (it must be the last include)"
    return None


def main():
    root, src = source_tree(__doc__)
    files = sorted(src.rglob("*.c"))
    bad = 0
    for path in files:
        why = problem(path)
        if why:
            print(f"error: {path.relative_to(root)} {why}")
            bad += 1
    print(f"{len(files)} files, {bad} do not include {BANNED} last")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
