#!/usr/bin/env bash
# Benchmarks switchboard against the shared reference peers (express+twilio,
# FastAPI+twilio, nginx with a fixed body) in one run on one machine: the
# signed incoming-call webhook of a 'pro' number, every server pinned to
# CPU 0 and wrk pinned to CPU 1. Prints the peers script's table, the same
# table in Markdown (latencies in ms), switchboard's req/s as a ratio to
# each peer's, and the CPU time switchboard spent per request.
#
#   bench/run.sh [SECONDS] [CONNECTIONS]        (default 8 s, 32 connections)
#
# environment:
#   SB_PEERS      the peers script (default: shared/bench/peers/run.sh in the
#                 repository's parent directory)
#   SB_PORT       where switchboard listens (default 8090; the peers use 8081-8083)
#   SB_BUILD_DIR  the release build directory (default build-bench/)
#   SB_REV        build this commit (git archive) instead of the working tree
#   SB_LOG_LEVEL  switchboard's log level (default warn: at info every request
#                 writes a call.incoming line, and that write is then part of
#                 what gets measured)
#
# Needs root the first time: the peers script apt-installs wrk, nginx-light
# and the Python peer's packages, and npm-installs the Node peer.
# For where the time goes, see bench/profile.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-8}
conns=${2:-32}
port=${SB_PORT:-8090}
peers=${SB_PEERS:-$(dirname "$repo")/shared/bench/peers/run.sh}
level=${SB_LOG_LEVEL:-warn}
token=test-auth-token
url=http://127.0.0.1:$port
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }

[ -x "$peers" ] || die "peers script not found at $peers (set SB_PEERS)"
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
[ "$(nproc --all)" -ge 2 ] || die "needs 2 CPUs: servers on CPU 0, wrk on CPU 1"
sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"

sb_scratch bench

# --- build: release, in its own directory -------------------------------
bin=$(sb_build "${SB_BUILD_DIR:-$repo/build-bench}" --buildtype=release) || exit 1
rev=$(sb_rev)

# --- a fresh store with one pro number; switchboard pinned to CPU 0 ------
export SWITCHBOARD_DB=$tmp/bench.db
sb_seed "$bin" || exit 1
PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
  taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" --log-level "$level" \
  2>"$tmp/server.log" &
srv=$!
sb_wait_healthz "$url" "$srv" || { cat "$tmp/server.log" >&2; die "switchboard did not start"; }

# CPU time switchboard used (all threads, user + system), in ms, and the
# incoming webhooks it answered. CPU per request does not depend on how much
# of CPU 0 other processes took, unlike req/s.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$srv/stat"; }
answered() { curl -fsS "$url/metrics" | awk '/^switchboard_http_requests_total\{route="incoming"/ { n += $NF } END { print n + 0 }'; }
pressure() { awk '/^some/ { sub(/avg10=/, "", $2); sub(/avg60=/, "", $3); print "; cpu pressure avg10 " $2 "%, avg60 " $3 "%" }' /proc/pressure/cpu 2>/dev/null || true; }

# --- the peers and switchboard, in the same run --------------------------
echo "switchboard $rev ($bin), log level $level"
echo "load: ${secs}s, ${conns} connections, wrk on CPU 1, servers on CPU 0; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "before: load average $(cut -d' ' -f1-3 /proc/loadavg)$(pressure)"
echo
cpu0=$(cpu_ms) req0=$(answered)
EXTRA="switchboard=$url" TWILIO_AUTH_TOKEN=$token "$peers" "$secs" "$conns" | tee "$tmp/table"
cpu1=$(cpu_ms) req1=$(answered)
echo "after: load average $(cut -d' ' -f1-3 /proc/loadavg)$(pressure)"

# --- the same table in Markdown, and the ratios ---------------------------
# wrk prints latencies as e.g. 850.00us, 1.23ms, 1.02s; show them all in ms.
echo
awk '
  function ms(v) {
    if (v ~ /us$/) return sprintf("%.3f", v / 1000)
    if (v ~ /ms$/) return sprintf("%.2f", v + 0)
    if (v ~ /m$/)  return sprintf("%.0f", v * 60000)
    if (v ~ /s$/)  return sprintf("%.0f", v * 1000)
    return v
  }
  function thousands(x,   s, r) {
    s = sprintf("%.0f", x); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
  }
  NR == 1 { print "| server | req/s | p50 ms | p90 ms | p99 ms | non-2xx |"; print "|---|---:|---:|---:|---:|---:|"; next }
  NF == 6 && $2 ~ /^[0-9.]+$/ { printf "| %s | %s | %s | %s | %s | %s |\n", $1, thousands($2), ms($3), ms($4), ms($5), $6; next }
  { print "| " $0 " | | | | | |" }
' "$tmp/table"

echo
sb=$(awk '$1 == "switchboard" && $2 ~ /^[0-9.]+$/ {print $2}' "$tmp/table")
if [ -z "$sb" ]; then
  echo "switchboard produced no figures; its log:" >&2
  tail -n 20 "$tmp/server.log" >&2
  exit 1
fi
awk -v sb="$sb" '
  NR > 1 && $1 != "switchboard" && $2 ~ /^[0-9.]+$/ && $2 > 0 {
    printf "switchboard / %-16s %8.2fx\n", $1, sb / $2
  }
' "$tmp/table"

# CPU per request, and the share of CPU 0 switchboard had while loaded
# (well below 100% means other processes were running on CPU 0 too).
awk -v ms=$((cpu1 - cpu0)) -v n=$((req1 - req0)) -v secs="$secs" 'BEGIN {
  if (n <= 0 || ms <= 0) exit
  us = ms * 1000 / n
  printf "\nswitchboard CPU: %.1f us per request (%d ms for %d requests, all threads)\n", us, ms, n
  printf "  = %.0f req/s on a core of its own; it had %.0f%% of CPU 0 while loaded\n", 1e6 / us, 100 * ms / (secs * 1000)
}'

lines=$(wc -l <"$tmp/server.log")
echo
echo "switchboard wrote $lines log line(s) at level $level during the run"
[ "$lines" -eq 0 ] || tail -n 5 "$tmp/server.log"
