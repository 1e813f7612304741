#!/usr/bin/python3
"""Fails when a file under src/ includes a header of a layer it may not use.

Every static library is compiled with src/ on its include path, so the build
alone would let store/ include server/ and only fail, if at all, at link time.
This check reads every `#include "..."` in src/**/*.c and src/**/*.h and
holds it against LAYERS, the one table of which layer may include which
(docs/internals/architecture.md shows the same table).

  scripts/check-layers.py                  check src/ of this repository
  scripts/check-layers.py --root DIR       check DIR/src/ instead (used by the
                                           test that shows the check can fail)

Prints one `error: ...` line per bad include and exits 1 if there was any.
"""

import argparse
import pathlib
import re
import sys

# Each layer and the layers it may include besides its own: the layers below
# it, all of them spelled out (the table is checked to be closed downward).
# A file directly in src/ (main.c) is the program and may include any layer.
LAYERS = {
    "core": set(),
    "net": {"core"},
    "twilio": {"core", "net"},
    "store": {"core"},
    "agent": {"core", "net"},
    "speech": {"core", "net"},
    "flow": {"core"},
    "media": {"core", "net", "agent"},
    "voice": {"core", "net", "store", "agent", "flow"},
    "server": {"core", "net", "store", "agent", "speech", "flow", "media", "voice", "twilio"},
    "sim": {"core", "net", "speech"},
    "cli": {"core", "net", "store", "agent", "speech", "flow", "media", "voice", "server", "sim",
            "twilio"},
}
PROGRAM = ""  # the layer of files directly in src/

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]*)"')


def check_table():
    """The table itself: known layers only, no layer above itself, closed
    downward (a layer may include everything its allowed layers may)."""
    problems = []
    for layer, below in LAYERS.items():
        for other in sorted(below):
            if other not in LAYERS:
                problems.append(f"layer {layer} names unknown layer {other}")
            elif other == layer:
                problems.append(f"layer {layer} lists itself")
            else:
                missing = LAYERS[other] - below
                if missing:
                    problems.append(f"layer {layer} may include {other} but not "
                                    f"{', '.join(sorted(missing))}, which {other} may")
            if other in LAYERS and layer in LAYERS[other]:
                problems.append(f"layers {layer} and {other} may include each other")
    return problems


def layer_of(rel):
    """The layer of a path relative to src/: its first directory."""
    return rel.parts[0] if len(rel.parts) > 1 else PROGRAM


def check_file(path, rel):
    errors = []
    layer = layer_of(rel)
    allowed = set(LAYERS) if layer == PROGRAM else LAYERS[layer] | {layer}
    shown = f"src/{rel.as_posix()}"
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = INCLUDE.match(line)
            if not m:
                continue
            header = m.group(1)
            if "/" not in header:
                errors.append(f"error: {shown} includes {header}: "
                              f"includes are by path from src/ (\"layer/{header}\")")
                continue
            target = header.split("/", 1)[0]
            if target not in LAYERS:
                errors.append(f"error: {shown} includes {header}: "
                              f"{target} is not a layer of scripts/check-layers.py")
            elif target not in allowed:
                errors.append(f"error: {shown} includes {header}: "
                              f"layer {layer or 'main'} may not include layer {target}")
            elif target != layer and header.endswith("_internal.h"):
                errors.append(f"error: {shown} includes {header}: "
                              f"an _internal.h header is private to layer {target}")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=pathlib.Path(__file__).resolve().parent.parent,
                    type=pathlib.Path, help="the tree whose src/ is checked")
    args = ap.parse_args()

    problems = check_table()
    for p in problems:
        print(f"error: scripts/check-layers.py: {p}")
    if problems:
        return 1

    src = args.root / "src"
    if not src.is_dir():
        print(f"error: {src} is not a directory")
        return 1
    errors, files = [], 0
    for path in sorted(list(src.rglob("*.c")) + list(src.rglob("*.h"))):
        rel = path.relative_to(src)
        layer = layer_of(rel)
        files += 1
        if layer != PROGRAM and layer not in LAYERS:
            errors.append(f"error: src/{rel.as_posix()}: directory {layer} is not a layer "
                          f"of scripts/check-layers.py (add it to LAYERS)")
            continue
        errors.extend(check_file(path, rel))
    for e in errors:
        print(e)
    print(f"check-layers: {files} files, {len(errors)} bad includes")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
