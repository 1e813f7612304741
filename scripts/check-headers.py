#!/usr/bin/python3
"""Fails when a header under src/ does not compile on its own.

A header includes what it uses (docs/internals/conventions.md), so a .c file
holding nothing but `#include "that/header.h"` must compile without warnings.
Each header is compiled that way, twice in the same file so that a missing
include guard shows too, with the project's warnings and -Werror:

  scripts/check-headers.py              every header in src/ of this repository
  scripts/check-headers.py --root DIR   every header in DIR/src/ instead (used
                                        by the test that shows the check can fail)

Prints the compiler's first lines for each header that fails and exits 1 if
any did. The compiler is $CC (default cc); headers compile in parallel.
"""

import concurrent.futures
import os
import shlex
import subprocess
import sys

from checklib import source_tree

# The libraries whose headers src/ includes; their -I flags come from pkg-config.
PKG_CONFIG = ["libwebsockets", "jansson", "sqlite3", "libpq", "libcrypto", "libcurl", "libxml-2.0", "soxr"]
# The warnings of the top-level meson.build (warning_level=2, werror=true, and
# its add_project_arguments).
CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
          "-Wshadow", "-Wformat=2"]


def pkg_cflags():
    try:
        out = subprocess.run(["pkg-config", "--cflags"] + PKG_CONFIG, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        stderr = getattr(e, "stderr", "") or str(e)
        sys.exit(f"error: pkg-config --cflags {' '.join(PKG_CONFIG)} failed: {stderr.strip()}")
    return shlex.split(out)


def compile_alone(cc, flags, root, header):
    include = f'#include "{header}"\n'
    proc = subprocess.run(cc + ["-fsyntax-only", "-x", "c", "-", "-Isrc"] + flags, cwd=root,
                          input=include + include, capture_output=True, text=True)
    return header, proc.returncode, proc.stderr


def main():
    root, src = source_tree(__doc__)
    headers = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.h"))
    cc = shlex.split(os.environ.get("CC", "cc"))
    flags = CFLAGS + pkg_cflags()

    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        jobs = [pool.submit(compile_alone, cc, flags, root, h) for h in headers]
        for job in jobs:
            header, rc, stderr = job.result()
            if rc != 0:
                failed.append(header)
                lines = [line.replace("<stdin>", f"<{header} alone>") for line in stderr.splitlines()]
                print(f"error: src/{header} does not compile on its own (included once, then again):")
                print("\n".join("    " + line for line in lines[:12]))
    print(f"check-headers: {len(headers)} headers, {len(failed)} do not compile on their own")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
