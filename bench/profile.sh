#!/usr/bin/env bash
# Profiles switchboard alone under the benchmark's load: the signed incoming
# webhook of a pro number, server pinned to CPU 0, wrk pinned to CPU 1,
# `perf record` (cpu-clock, DWARF call graphs) attached to the server.
# Builds with debug info (-O3 -g, same code as the release build) in its
# own directory. Writes reports next to this script unless SB_PROF_OUT says
# otherwise:
#
#   bench/profile.sh [SECONDS] [CONNECTIONS]     (default 10 s, 32)
#
#   $out/perf-flat.txt      self time by DSO and symbol
#   $out/perf-children.txt  inclusive time (callers charged for callees)
#   $out/perf-threads.txt   samples per thread (event loop vs store writer)
#   $out/wrk.txt            wrk's output for the profiled run
#   $out/perf.data          the recording itself, with SB_PROF_KEEP=1 (large)
#
# perf's own overhead lowers throughput; use bench/run.sh for figures.
# Without perf (or with SB_CALLGRIND=1) it runs valgrind --tool=callgrind
# on a short run instead and writes $out/callgrind.txt.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-10}
conns=${2:-32}
port=${SB_PORT:-8091}
shared=${SB_SHARED:-$(dirname "$repo")/shared/bench}
builddir=${SB_PROF_BUILD_DIR:-$repo/build-bench-prof}
out=${SB_PROF_OUT:-$here}
token=test-auth-token
url=http://127.0.0.1:$port

die() { echo "profile: $*" >&2; exit 1; }
[ -f "$shared/sign.py" ] && [ -f "$shared/post.lua" ] || die "no sign.py/post.lua in $shared (set SB_SHARED)"
command -v wrk >/dev/null || die "wrk is needed (bench/run.sh installs it)"

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "$repo" --buildtype=release -Ddebug=true \
    -Dc_args=-fno-omit-frame-pointer >/dev/null
fi
ninja -C "$builddir" switchboard >/dev/null
bin=$builddir/switchboard

use_callgrind=${SB_CALLGRIND:-0}
if [ "$use_callgrind" != 1 ] && ! perf record -q -e cpu-clock -o /dev/null true 2>/dev/null; then
  use_callgrind=1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-prof.XXXXXX")
srv="" perf_pid=""
cleanup() {
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
  if [ -n "$srv" ]; then kill -TERM "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export SWITCHBOARD_DB=$tmp/bench.db
"$bin" tenants add bench --lang en-US >/dev/null 2>&1
"$bin" numbers add +15005550006 --tenant bench --plan pro --agent receptionist >/dev/null 2>&1

pre=()
[ "$use_callgrind" = 1 ] && pre=(valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out")
PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
  taskset -c 0 "${pre[@]}" "$bin" serve --listen "127.0.0.1:$port" --log-level warn \
  2>"$tmp/server.log" &
srv=$!
for _ in $(seq 100); do
  curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && break
  sleep 0.1
done

mapfile -t signed < <(TWILIO_AUTH_TOKEN=$token "$shared/sign.py" "$url/voice/incoming" \
  CallSid=CA0123456789abcdef0123456789abcdef AccountSid=AC0123456789abcdef0123456789abcdef \
  From=+15551234567 To=+15005550006 CallStatus=ringing Direction=inbound \
  ApiVersion=2010-04-01 FromCountry=US ToCountry=US)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Twilio-Signature: ${signed[1]}" \
  --data "${signed[0]}" "$url/voice/incoming")
[ "$code" = 200 ] || die "switchboard answered $code to a signed request"

if [ "$use_callgrind" = 1 ]; then
  taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$shared/post.lua" \
    "$url/voice/incoming" -- "${signed[0]}" "${signed[1]}" >"$out/wrk.txt"
  kill -TERM "$srv"; wait "$srv" 2>/dev/null || true; srv=""
  callgrind_annotate --inclusive=yes "$tmp/callgrind.out" >"$out/callgrind.txt" 2>/dev/null || true
  echo "wrote $out/callgrind.txt"
  exit 0
fi

perf record -q -e cpu-clock -F 1999 --call-graph dwarf,16384 -p "$srv" -o "$tmp/perf.data" \
  2>/dev/null &
perf_pid=$!
sleep 0.5
taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$shared/post.lua" \
  "$url/voice/incoming" -- "${signed[0]}" "${signed[1]}" | tee "$out/wrk.txt"
kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; perf_pid=""

perf report -i "$tmp/perf.data" --no-children --sort dso,symbol --stdio -g none \
  --percent-limit 0.3 >"$out/perf-flat.txt" 2>/dev/null
perf report -i "$tmp/perf.data" --children --sort symbol --stdio -g none \
  --percent-limit 1 >"$out/perf-children.txt" 2>/dev/null
perf report -i "$tmp/perf.data" --no-children --sort pid --stdio -g none \
  >"$out/perf-threads.txt" 2>&1 || true
[ "${SB_PROF_KEEP:-0}" = 1 ] && mv "$tmp/perf.data" "$out/perf.data" && echo "kept $out/perf.data"
echo "wrote $out/perf-flat.txt, perf-children.txt, perf-threads.txt, wrk.txt"
