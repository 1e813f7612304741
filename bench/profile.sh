#!/usr/bin/env bash
# Profiles switchboard alone under the benchmark's load: the signed incoming
# webhook of a pro number, server pinned to CPU 0, wrk pinned to CPU 1,
# `perf record` (cpu-clock, DWARF call graphs) attached to the server.
# Builds with debug info (-O3 -g, the release build's code) in its own
# directory.
#
#   bench/profile.sh [SECONDS] [CONNECTIONS]     (default 10 s, 32)
#
# Writes, into $SB_PROF_OUT (default: a new directory under /tmp, printed):
#   perf-flat.txt      self time by DSO and symbol
#   perf-children.txt  inclusive time (callers charged for their callees)
#   perf-threads.txt   samples per thread: event loop vs store writer
#   wrk.txt            wrk's output for the profiled run
#   perf.data          the recording itself (large), with SB_PROF_KEEP=1
#
# perf's own overhead lowers throughput: use bench/run.sh for figures.
# Without a usable perf (or with SB_CALLGRIND=1) it runs the server under
# valgrind --tool=callgrind instead and writes callgrind.txt.
# SB_REV, SB_PORT (default 8091) and SB_SHARED (the shared bench directory)
# work as in run.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-10}
conns=${2:-32}
port=${SB_PORT:-8091}
shared=${SB_SHARED:-$(dirname "$repo")/shared/bench}
token=test-auth-token
url=http://127.0.0.1:$port
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "profile: $*" >&2; exit 1; }
{ [ -f "$shared/sign.py" ] && [ -f "$shared/post.lua" ]; } || die "no sign.py/post.lua in $shared (set SB_SHARED)"
command -v wrk >/dev/null || die "wrk is needed (bench/run.sh installs it)"
sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"

use_callgrind=${SB_CALLGRIND:-0}
if [ "$use_callgrind" != 1 ] && ! perf record -q -e cpu-clock -o /dev/null true 2>/dev/null; then
  use_callgrind=1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-prof.XXXXXX")
out=${SB_PROF_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/switchboard-profile.XXXXXX")}
mkdir -p "$out"
srv="" perf_pid=""
cleanup() {
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
  if [ -n "$srv" ]; then kill -TERM "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=$(sb_build "${SB_PROF_BUILD_DIR:-$repo/build-bench-prof}" --buildtype=release -Ddebug=true \
  -Dc_args=-fno-omit-frame-pointer) || exit 1

export SWITCHBOARD_DB=$tmp/bench.db
sb_seed "$bin" || exit 1

pre=()
[ "$use_callgrind" = 1 ] && pre=(valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out")
PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
  taskset -c 0 "${pre[@]}" "$bin" serve --listen "127.0.0.1:$port" --log-level warn \
  2>"$tmp/server.log" &
srv=$!
sb_wait_healthz "$url" "$srv" || sb_wait_healthz "$url" "$srv" ||
  { cat "$tmp/server.log" >&2; die "switchboard did not start"; }

mapfile -t signed < <(TWILIO_AUTH_TOKEN=$token "$shared/sign.py" "$url/voice/incoming" \
  CallSid=CA0123456789abcdef0123456789abcdef AccountSid=AC0123456789abcdef0123456789abcdef \
  From=+15551234567 To=+15005550006 CallStatus=ringing Direction=inbound \
  ApiVersion=2010-04-01 FromCountry=US ToCountry=US)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Twilio-Signature: ${signed[1]}" \
  --data "${signed[0]}" "$url/voice/incoming")
[ "$code" = 200 ] || die "switchboard answered $code to a signed request"

load() {
  taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$shared/post.lua" \
    "$url/voice/incoming" -- "${signed[0]}" "${signed[1]}"
}

if [ "$use_callgrind" = 1 ]; then
  load >"$out/wrk.txt"
  kill -TERM "$srv"; wait "$srv" 2>/dev/null || true; srv=""
  callgrind_annotate --inclusive=yes "$tmp/callgrind.out" >"$out/callgrind.txt" 2>/dev/null || true
  echo "wrote $out/callgrind.txt"
  exit 0
fi

perf record -q -e cpu-clock -F 1999 --call-graph dwarf,16384 -p "$srv" -o "$tmp/perf.data" \
  2>/dev/null &
perf_pid=$!
sleep 0.5
load | tee "$out/wrk.txt"
kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; perf_pid=""

report() { perf report -i "$tmp/perf.data" --stdio -g none "$@" 2>/dev/null; }
report --no-children --sort dso,symbol --percent-limit 0.3 >"$out/perf-flat.txt"
report --children --sort symbol --percent-limit 1 >"$out/perf-children.txt"
report --no-children --sort pid >"$out/perf-threads.txt"
if [ "${SB_PROF_KEEP:-0}" = 1 ]; then mv "$tmp/perf.data" "$out/perf.data"; fi
echo "wrote $out: perf-flat.txt perf-children.txt perf-threads.txt wrk.txt"
