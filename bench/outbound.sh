#!/usr/bin/env bash
# Outbound jobs placed per second: a campaign of JOBS say jobs, imported with
# `campaigns import`, placed by `switchboard serve` against `switchboard sim
# api`, which creates each call, runs it to the server's webhooks (the
# TwiML fetch and every status callback, signed) and records each request
# with its time. See "Outbound jobs placed" in bench/README.md.
#
#   bench/outbound.sh [JOBS] [DEFAULT_JOBS]     default 2000 and 6
#
# (a) the rate limit lifted (SWITCHBOARD_CALLS_PER_SECOND=1000, the most it
#     takes; SWITCHBOARD_OUTBOUND_CAP=100000): JOBS jobs from queued to
#     completed, every change committed (queued -> placing -> placed, the
#     callbacks initiated, ringing, answered and completed, each applied to
#     its job by the placer and recorded in the call log). Printed: jobs per
#     second from the sim's first create to the last job completed (polled
#     every 20 ms), the creates' own rate, the server's CPU time per job
#     (all threads, /proc/PID/stat), whence what one free core would give,
#     and the sim's CPU time (when it nears the run's time, the sim is what
#     limits the figure, not switchboard).
# (b) the default limit (1 a second): DEFAULT_JOBS jobs; from the sim's
#     record of request times, the shortest gap between two creates and the
#     most creates in any one-second window.
#
# switchboard runs pinned to CPU 0; the sim api and this script's polling
# on CPU 1. Logs at warn (the server) so that log lines are not measured.
#
# environment:
#   SB_PORT       switchboard's port (default 8095); the sim takes SB_PORT+1
#   SB_BUILD_DIR  release build directory (default build-bench/)
#   SB_REV        build this commit (git archive) instead of the working tree
#   SB_OUT        keep the server and sim logs and the sim's record here
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
jobs=${1:-2000}
default_jobs=${2:-6}
port=${SB_PORT:-8095}
sim_port=$((port + 1))
token=test-auth-token
account=AC00000000000000000000000000000000
url=http://127.0.0.1:$port
sim_url=http://127.0.0.1:$sim_port
from=+15005550006 # sb_seed's pro number
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }
case ${1:-} in
-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
[[ $jobs =~ ^[0-9]+$ && $jobs -ge 1 && $default_jobs =~ ^[0-9]+$ && $default_jobs -ge 2 ]] ||
  die "usage: bench/outbound.sh [JOBS] [DEFAULT_JOBS] (DEFAULT_JOBS at least 2)"
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
[ "$(nproc --all)" -ge 2 ] || die "needs 2 CPUs: switchboard on CPU 0, the sim on CPU 1"
sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"
sb_port_free "$sim_port" || die "port $sim_port is already in use (set SB_PORT)"

sb_scratch outbound
sim=""
trap 'sb_stop "$sim"; sb_scratch_cleanup' EXIT
out=${SB_OUT:-$tmp/out}
mkdir -p "$out"

bin=$(sb_build "${SB_BUILD_DIR:-$repo/build-bench}" --buildtype=release)
export SWITCHBOARD_DB=$tmp/bench.db
sb_seed "$bin"
# Calling hours (08:00 to 21:00) in the tenant's zone: a zone where it is about 14:00 now.
shift_h=$(((14 - 10#$(date -u +%H) + 36) % 24 - 12))
if [ "$shift_h" -eq 0 ]; then zone=UTC; else zone=$(printf 'Etc/GMT%+d' $((-shift_h))); fi
"$bin" tenants set bench --timezone "$zone" >/dev/null

# campaign NAME N : imports N say jobs (numbers +1555200xxxx) and prints the campaign's id.
campaign() {
  local csv=$tmp/$1.csv
  /usr/bin/python3 - "$csv" "$2" <<'PY'
import csv, sys
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["to", "name", "lang"])
    for i in range(int(sys.argv[2])):
        w.writerow(["+1555%07d" % (2000000 + i), "Contact %d" % i, "en-US"])
PY
  "$bin" campaigns import "$csv" --tenant bench --from "$from" --say "Hello {{name}}." \
    --name "$1" | sed -n "s/^campaign \([0-9]*\) .*/\1/p"
}

start_sim() {
  rm -f "$out/requests-$1.jsonl" # --record appends
  taskset -c 1 "$bin" sim api --listen "127.0.0.1:$sim_port" --token "$token" --speed 1000 \
    --record "$out/requests-$1.jsonl" 2>"$out/sim-$1.log" &
  sim=$!
  for _ in $(seq 50); do sb_port_free "$sim_port" || return 0; sleep 0.1; done
  die "the sim api did not start (see $out/sim-$1.log)"
}

# start_server LABEL [ENV=VALUE...] : serve pinned to CPU 0.
start_server() {
  local label=$1
  shift
  env "$@" PUBLIC_BASE_URL="$url" TWILIO_AUTH_TOKEN="$token" TWILIO_ACCOUNT_SID="$account" \
    TWILIO_API_BASE="$sim_url" taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" \
    --log-level warn 2>"$out/server-$label.log" &
  srv=$!
  sb_wait_healthz "$url" "$srv" || die "the server did not start (see $out/server-$label.log)"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wait_done CAMPAIGN N TIMEOUT_S : polls the store (read only, on CPU 1) until the campaign's
# N jobs are completed; prints the time they were (unix seconds, 20 ms steps).
wait_done() {
  taskset -c 1 /usr/bin/python3 - "$SWITCHBOARD_DB" "$1" "$2" "$3" <<'PY'
import sqlite3, sys, time
db, campaign, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
deadline = time.time() + limit
while True:
    now = time.time()
    done = con.execute("select count(*) from jobs where campaign_id = ? and status = 'completed'",
                       (campaign,)).fetchone()[0]
    if done == n:
        print("%.3f" % now)
        break
    if now > deadline:
        sys.exit("bench: %d of %d jobs completed after %.0f s" % (done, n, limit))
    time.sleep(0.02)
PY
}

# ---- (a) the rate limit lifted ----
start_sim lifted
id=$(campaign lifted "$jobs")
[ -n "$id" ] || die "campaigns import failed"
start_server lifted SWITCHBOARD_CALLS_PER_SECOND=1000 SWITCHBOARD_OUTBOUND_CAP=100000
ticks0=$(cpu_ticks "$srv")
sim_ticks0=$(cpu_ticks "$sim")
done_at=$(wait_done "$id" "$jobs" $((60 + jobs / 10)))
ticks1=$(cpu_ticks "$srv")
sim_ticks1=$(cpu_ticks "$sim")
sb_stop "$srv"; srv=""
sb_stop "$sim"; sim=""
warnings=$(grep -c . "$out/server-lifted.log" || true)

/usr/bin/python3 - "$out/requests-lifted.jsonl" "$jobs" "$done_at" $((ticks1 - ticks0)) \
  "$(getconf CLK_TCK)" "$warnings" $((sim_ticks1 - sim_ticks0)) <<'PY'
import bisect, datetime, json, sys
path, n, done_at, ticks, hz, warnings = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
sim_ticks = int(sys.argv[7])
def t(r):
    return datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
recs = [json.loads(line) for line in open(path)]
creates = sorted(t(r) for r in recs if r["action"] == "calls.create" and r["status"] == 201)
if len(creates) != n:
    sys.exit("bench: %d calls created for %d jobs" % (len(creates), n))
first, last = creates[0], creates[-1]
span = done_at - first
cpu_us = ticks * 1e6 / hz / n
print("(a) limit lifted: %d jobs, queued to completed" % n)
print("  jobs/s, first create to last completed: %8.0f  (%.2f s)" % (n / span, span))
print("  creates/s, first to last create:        %8.0f  (%.2f s)" %
      (n / max(last - first, 1e-3), last - first))
# The record's times are to the millisecond: a window 2 ms short of a second allows for it.
most = max(bisect.bisect_left(creates, c + 0.998) - i for i, c in enumerate(creates))
print("  most creates in any 1 s window:         %8d  (the limit: 1000)" % most)
print("  server CPU per job (all threads):       %8.0f us -> %.0f jobs/s on one free core" %
      (cpu_us, 1e6 / cpu_us if cpu_us else float("inf")))
print("  sim api CPU over the run (CPU 1):      %8.2f s of %.2f s" % (sim_ticks / hz, span))
print("  server log lines at warn: %d" % warnings)
PY

# ---- (b) the default limit ----
start_sim default
id=$(campaign default "$default_jobs")
[ -n "$id" ] || die "campaigns import failed"
start_server default
wait_done "$id" "$default_jobs" $((30 + 3 * default_jobs)) >/dev/null
sb_stop "$srv"; srv=""
sb_stop "$sim"; sim=""

/usr/bin/python3 - "$out/requests-default.jsonl" "$default_jobs" <<'PY'
import bisect, datetime, json, sys
path, n = sys.argv[1], int(sys.argv[2])
def t(r):
    return datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
creates = sorted(t(r) for r in map(json.loads, open(path)) if r["action"] == "calls.create")
if len(creates) != n:
    sys.exit("bench: %d creates for %d jobs" % (len(creates), n))
gaps = [b - a for a, b in zip(creates, creates[1:])]
# The record's times are to the millisecond: a window 2 ms short of a second allows for it.
most = max(bisect.bisect_left(creates, c + 0.998) - i for i, c in enumerate(creates))
print("(b) default limit (1/s): %d jobs, %d creates over %.2f s" %
      (n, len(creates), creates[-1] - creates[0]))
print("  shortest gap between two creates: %.3f s, mean %.3f s" % (min(gaps), sum(gaps) / len(gaps)))
print("  most creates in any 1 s window:   %d (window 998 ms: the record is to the ms)" % most)
PY
echo "revision: $(sb_rev)"
