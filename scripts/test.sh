#!/usr/bin/env bash
# `make test`: installs what the tests need, builds, and runs every suite:
#   1. unit tests (Criterion), plain build
#   2. the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. oracle tests (python3-twilio decides what is correct)
#   4. integration tests (the real binary over real sockets on 127.0.0.1)
#   5. fuzz targets for a bounded time (FUZZ_SECONDS each, default 10)
# and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/deps.sh --test || exit 1

passed=0 failed=0
units="unit-core unit-store unit-voice unit-sim unit-media unit-speech unit-flow"
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

count() { passed=$((passed + $1)); failed=$((failed + $2)); }
step() { printf '\n== %s\n' "$*"; }

build() { # build DIR "TARGETS" [meson options...]  (empty TARGETS: everything)
  local dir=$1 targets=$2; shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$log/setup-$(basename "$dir")" 2>&1 ||
      { cat "$log/setup-$(basename "$dir")"; return 1; }
  fi
  # shellcheck disable=SC2086  # targets is a list
  ninja -C "$dir" $targets >"$log/ninja-$(basename "$dir")" 2>&1 ||
    { cat "$log/ninja-$(basename "$dir")"; return 1; }
}

criterion() { # criterion LABEL EXE
  local out="$log/$1.out"
  "$2" --jobs=2 >"$out" 2>&1
  local rc=$?
  local line; line=$(grep -a "Synthesis:" "$out" | tail -1)
  local ok bad
  ok=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
  bad=$(sed -n 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2/p' <<<"$line" | awk '{print $1+$2}')
  if [ -z "$ok" ]; then ok=0; bad=1; fi
  [ $rc -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
  [ "$bad" -ne 0 ] && grep -a -E "FAIL|Assertion|Crash|error|Synthesis" "$out" | head -40
  printf '%s: %s passed, %s failed\n' "$1" "$ok" "$bad"
  count "$ok" "$bad"
}

pyunit() { # pyunit LABEL DIR
  local out="$log/$1.out"
  SB_BUILD="$root/build" /usr/bin/python3 -m unittest discover -s "$2" -t "$root" -p 'test_*.py' >"$out" 2>&1
  local rc=$?
  local ran; ran=$(sed -n 's/^Ran \([0-9]*\) tests\?.*/\1/p' "$out" | tail -1)
  local bad; bad=$(grep -E '^FAILED \(' "$out" | grep -oE '(failures|errors)=[0-9]+' | awk -F= '{s += $2} END {print s + 0}')
  ran=${ran:-0}; bad=${bad:-0}
  [ $rc -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
  [ "$bad" -ne 0 ] && grep -E -A30 '^(FAIL|ERROR):' "$out" | head -80
  printf '%s: %s passed, %s failed\n' "$1" "$((ran - bad < 0 ? 0 : ran - bad))" "$bad"
  count "$((ran - bad < 0 ? 0 : ran - bad))" "$bad"
}

step "build"
if build build ""; then count 1 0; else count 0 1; echo "0 passed, 1 failed"; exit 1; fi

step "unit tests"
for t in $units; do criterion "$t" "build/$t"; done

step "unit tests under ASan + UBSan"
if build build-asan "$units" -Db_sanitize=address,undefined -Db_lundef=false; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  for t in $units; do criterion "asan:$t" "build-asan/$t"; done
  unset ASAN_OPTIONS UBSAN_OPTIONS
else
  count 0 1
fi

step "oracle tests (python3-twilio)"
pyunit oracle tests/oracle

step "integration tests"
pyunit integration tests/integration

step "fuzz targets (${FUZZ_SECONDS:-10} s each)"
fuzzers="fuzz/fuzz_doc fuzz/fuzz_flow fuzz/fuzz_form fuzz/fuzz_media fuzz/fuzz_sig fuzz/fuzz_twiml"
if CC=clang build build-fuzz "$fuzzers" -Dfuzz=true; then
  for f in build-fuzz/fuzz/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    name=$(basename "$f"); corpus="$log/corpus-$name"
    mkdir -p "$corpus"
    [ -d "fuzz/corpus/${name#fuzz_}" ] && cp fuzz/corpus/"${name#fuzz_}"/* "$corpus"/ 2>/dev/null
    if "$f" -max_total_time="${FUZZ_SECONDS:-10}" -rss_limit_mb=1024 "$corpus" >"$log/$name.out" 2>&1; then
      printf '%s: 1 passed, 0 failed (%s)\n' "$name" "$(grep -a -oE 'Done [0-9]+ runs in [0-9]+ second' "$log/$name.out" | head -1)"
      count 1 0
    else
      tail -30 "$log/$name.out"; printf '%s: 0 passed, 1 failed\n' "$name"; count 0 1
    fi
  done
else
  count 0 1
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
