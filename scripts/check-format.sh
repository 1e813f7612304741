#!/usr/bin/env bash
# Fails when clang-format (with the repository's .clang-format) would change
# a C file: src/, tests/unit/, tests/tools/, fuzz/ and bench/*.c.
#   scripts/check-format.sh              check this repository
#   scripts/check-format.sh --root DIR   check the same places under DIR (used by
#                                        the test that shows the check can fail)
# Prints each file that would change, with how many places, and exits 1 if any.
# The files are formatted with Debian 12's clang-format 14; another major version
# may format some constructs differently, so the check says so when it runs one.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "--root" ] && [ -n "${2:-}" ]; then
  root=$(cd "$2" && pwd) || exit 1
elif [ $# -ne 0 ]; then
  echo "usage: scripts/check-format.sh [--root DIR]" >&2
  exit 2
fi
cd "$root" || exit 1

if ! command -v clang-format >/dev/null; then
  echo "error: clang-format is not installed (Debian package clang-format; scripts/deps.sh --test)"
  exit 1
fi
version=$(clang-format --version)
major=$(sed -n 's/.*clang-format version \([0-9]*\).*/\1/p' <<<"$version")
if [ "$major" != 14 ]; then
  echo "warning: $version; the files are formatted with clang-format 14 (Debian 12)," \
       "so a difference may come from the version"
fi

files=()
for d in src tests/unit tests/tools fuzz; do
  [ -d "$d" ] && while IFS= read -r -d '' f; do files+=("$f"); done \
    < <(find "$d" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
done
for f in bench/*.c; do [ -f "$f" ] && files+=("$f"); done
if [ ${#files[@]} -eq 0 ]; then
  echo "error: no C files found under $root"
  exit 1
fi

# One run over every file; --dry-run prints "FILE:LINE:COL: error: code should be
# clang-formatted" for each place it would change.
out=$(clang-format --dry-run --Werror "${files[@]}" 2>&1)
rc=$?
bad=$(grep -oE '^[^:]+:[0-9]+:[0-9]+: error: code should be clang-formatted' <<<"$out" |
      cut -d: -f1 | sort | uniq -c | awk '{printf "error: %s: clang-format would change %d place%s\n", $2, $1, $1 == 1 ? "" : "s"}')
if [ $rc -ne 0 ] && [ -z "$bad" ]; then
  printf '%s\n' "$out" | head -20   # clang-format failed for another reason
  echo "error: clang-format exited $rc"
  exit 1
fi
[ -n "$bad" ] && printf '%s\n' "$bad"
n=0; [ -n "$bad" ] && n=$(wc -l <<<"$bad")
echo "check-format: ${#files[@]} files, $n would change (fix: clang-format -i FILE)"
[ "$n" -eq 0 ]
