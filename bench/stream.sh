#!/usr/bin/env bash
# Media Streams benchmarks: how many concurrent echo streams switchboard
# carries on one core with every echoed frame on time, its memory per call,
# the same for the node-stream reference peer, and the time from `start` to
# the first greeting audio. See "Media Streams" in bench/README.md.
#
#   bench/stream.sh load [N ...]      switchboard, echo agent (default N: 100 250 500 1000 1500 2000)
#   bench/stream.sh node [N ...]      the node-stream peer (ws), same load
#   bench/stream.sh first-audio [CALLS]   start -> first media, rule agent (default 20 calls)
#   bench/stream.sh all               the three above with their defaults
#
# Every server is pinned to CPU 0 and restarted for each N (so RSS "idle" is
# a fresh process); the load generator (bench/stream_load.c, one lws context
# on a libev/epoll loop) is pinned to CPU 1. Both run with `ulimit -n 65536`
# (or the hard limit, when a container does not allow more).
# Needs libwebsockets, libcrypto and libev (libev-dev) to build the generator.
#
# environment:
#   SECS          seconds of media per stream (default 20)
#   TRIES         runs per N at most (default 2): a failed run is repeated when
#                 the server or the generator waited for its CPU over 2% of the
#                 time (other processes on the same cores)
#   SB_PORT       switchboard's port (default 8091); NODE_PORT (default 8084)
#   SB_BUILD_DIR  release build directory (default build-bench-stream/)
#   SB_REV        build this commit (git archive) instead of the working tree
#   SB_GEN        a load generator built before (build-bench-stream/stream_load), for
#                 a commit older than the generator's own needs (stream tokens)
#   SB_PEERS_DIR  the shared peers (default ../shared/bench/peers)
#   SB_PERF=1     perf record -g the server for 5 s in the middle of each load run
#                 (reports kept in $SB_OUT)
#   SB_GEN_SPIN=0 let the generator sleep in epoll_wait (default: it polls
#                 without sleeping, so that the server's sends wake nobody;
#                 see bench/README.md)
#   SB_QUIET=PCT  before each run, wait until CPU pressure avg10 is under PCT%
#   SB_OUT        keep logs and RESULT lines here (default: a temporary directory, removed)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${SECS:-20}
tries=${TRIES:-2}
port=${SB_PORT:-8091}
node_port=${NODE_PORT:-8084}
peers_dir=${SB_PEERS_DIR:-$(dirname "$repo")/shared/bench/peers}
token=test-auth-token
url=http://127.0.0.1:$port
echo_number=+15005550007
rule_number=+15005550006
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }
# The generator needs libev; install it as the other bench scripts install wrk.
dpkg-query -W -f='${Status}' libev-dev 2>/dev/null | grep -q "install ok installed" ||
  apt-get install -y -qq libev-dev >/dev/null || die "libev-dev is missing: apt-get install libev-dev"

mode=${1:-all}
shift || true

command -v taskset >/dev/null || die "taskset (util-linux) is needed"
[ "$(nproc --all)" -ge 2 ] || die "needs 2 CPUs: servers on CPU 0, the load generator on CPU 1"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" ||
  die "cannot raise the open-files limit"
[ "$(ulimit -n)" -ge 4200 ] || echo "bench: warning: open-files limit is $(ulimit -n)" >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-stream.XXXXXX")
out=${SB_OUT:-$tmp/out}
mkdir -p "$out"
srv=""
stop_server() {
  # Only what this script started, by PID.
  if [ -n "$srv" ]; then
    kill -TERM "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    srv=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build: switchboard (release) and the load generator against it ----------
builddir=${SB_BUILD_DIR:-$repo/build-bench-stream}
bin=$(sb_build "$builddir" --buildtype=release) || exit 1
builddir=$(dirname "$bin")
srcdir=$repo/src
[ -z "${SB_REV:-}" ] || srcdir=$tmp/src/src
gen=${SB_GEN:-$builddir/stream_load}
if [ -n "${SB_GEN:-}" ]; then
  [ -x "$gen" ] || die "SB_GEN=$gen is not an executable load generator"
elif [ ! -x "$gen" ] || [ "$here/stream_load.c" -nt "$gen" ] || [ "$builddir/libsb_core.a" -nt "$gen" ]; then
  # shellcheck disable=SC2046
  cc -std=c11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -I"$srcdir" \
    "$here/stream_load.c" -o "$gen" "$builddir/libsb_core.a" \
    $(pkg-config --cflags --libs libwebsockets libcrypto) -lev -lpthread ||
    die "cannot build the load generator"
fi
rev=$(git -C "$repo" rev-parse --short "${SB_REV:-HEAD}" 2>/dev/null || echo "${SB_REV:-?}")
[ -n "${SB_REV:-}" ] || { [ -z "$(git --no-optional-locks -C "$repo" status --porcelain -- src meson.build 2>/dev/null)" ] || rev="$rev + uncommitted src changes"; }

# With SB_QUIET=PCT, wait (up to 15 min) before each run until the CPU pressure
# (avg10, /proc/pressure/cpu) is under PCT%: other people's builds come in bursts.
wait_quiet() {
  [ -n "${SB_QUIET:-}" ] && [ -r /proc/pressure/cpu ] || return 0
  local i
  for i in $(seq 900); do
    awk -v max="$SB_QUIET" '/^some/ { sub(/avg10=/, "", $2); exit !($2 + 0 < max) }' /proc/pressure/cpu && return 0
    [ "$i" -gt 1 ] || echo "   waiting for CPU pressure under $SB_QUIET%"
    sleep 1
  done
}
pressure() { awk '/^some/ { sub(/avg10=/, "", $2); print "cpu pressure avg10 " $2 "%" }' /proc/pressure/cpu 2>/dev/null || echo "cpu pressure ?"; }
conditions() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $(pressure)"; }

# --- switchboard: a fresh store with an echo number and a rule-agent number ----
export SWITCHBOARD_DB=$tmp/stream.db
seed() {
  if ! "$bin" tenants add bench --lang en-US >/dev/null ||
    ! "$bin" numbers add "$rule_number" --tenant bench --plan pro --agent receptionist >/dev/null ||
    ! "$bin" numbers add "$echo_number" --tenant bench --plan pro --agent echo >/dev/null; then
    die "cannot seed the store"
  fi
}
seed

start_switchboard() {
  sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"
  PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
    taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" --log-level warn \
    2>>"$out/server.log" &
  srv=$!
  sb_wait_healthz "$url" "$srv" || { tail "$out/server.log" >&2; die "switchboard did not start"; }
  sleep 1 # idle RSS after start-up settles
}

start_node() {
  local dir=$peers_dir/node-stream
  [ -f "$dir/server.js" ] || die "node-stream peer not found in $dir (set SB_PEERS_DIR)"
  [ -d "$dir/node_modules/ws" ] ||
    (cd "$dir" && npm install --no-package-lock --no-audit --no-fund >/dev/null 2>&1) ||
    die "npm install failed in $dir"
  sb_port_free "$node_port" || die "port $node_port is already in use (set NODE_PORT)"
  (cd "$dir" && PORT=$node_port exec taskset -c 0 node server.js) >>"$out/node.log" 2>&1 &
  srv=$!
  for _ in $(seq 50); do
    ! sb_port_free "$node_port" && break
    kill -0 "$srv" 2>/dev/null || die "node-stream did not start"
    sleep 0.1
  done
  sleep 1
}

# perf on the server for 5 s in the middle of the media phase.
perf_pid=""
perf_mid() {
  local label=$1
  perf_pid=""
  [ "${SB_PERF:-0}" = 1 ] && command -v perf >/dev/null || return 0
  ( sleep $((secs / 2)); perf record -e cpu-clock -g -p "$srv" -o "$out/perf-$label.data" -- sleep 5 \
      >/dev/null 2>&1 &&
    perf report -i "$out/perf-$label.data" --no-children --percent-limit 1 --stdio \
      >"$out/perf-$label.txt" 2>/dev/null ) &
  perf_pid=$!
}

# run_load LABEL N TRY PORT [generator options]: one run; its RESULT line goes to
# $tmp/results (this invocation's summary) and $out/results (kept across runs).
last=""
# steal_ms CPU: time the hypervisor ran something else on that virtual CPU
# (/proc/stat's steal column, in USER_HZ ticks): stalls no process here sees.
steal_ms() { awk -v c="cpu$1" -v hz="$(getconf CLK_TCK)" '$1 == c { print int($9 * 1000 / hz) }' /proc/stat; }
run_load() {
  local label=$1 n=$2 try=$3 p=$4 st0 st1
  shift 4
  last=$out/$label-$n-$try.txt
  echo "== $label N=$n, ${secs}s, try $try; before: $(conditions)"
  perf_mid "$label-$n-$try"
  st0=$(steal_ms 0) st1=$(steal_ms 1)
  local spin=--spin
  [ "${SB_GEN_SPIN:-1}" = 1 ] || spin=""
  # shellcheck disable=SC2086
  taskset -c 1 "$gen" --port "$p" -n "$n" -d "$secs" --server-pid "$srv" $spin "$@" | tee "$last"
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  st0=$(($(steal_ms 0) - st0)) st1=$(($(steal_ms 1) - st1))
  echo "steal: CPU 0 (server) $st0 ms, CPU 1 (generator) $st1 ms"
  sed -i "s/^RESULT /RESULT steal_srv_ms=$st0 steal_gen_ms=$st1 /" "$last"
  grep '^RESULT' "$last" | sed "s/^RESULT /RESULT server=$label try=$try /" |
    tee -a "$out/results" >>"$tmp/results"
  echo "   after: $(conditions)"
}

field() { grep '^RESULT' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# A run passes with >= 99.9% of frames on time, none lost, no stream failed.
passed() {
  awk -v t="$(field ontime_first "$1")" -v l="$(field lost "$1")" -v f="$(field failed "$1")" \
    -v c="$(field closed_early "$1")" 'BEGIN { exit !(t + 0 >= 99.9 && l == 0 && f == 0 && c == 0) }'
}
# Noisy: the server's loop or the generator waited for its CPU over 2% of the run
# (other people's builds on the same cores), the hypervisor took either
# virtual CPU away for over 1% of it, or the generator itself sent a frame
# over 20 ms late (its echo was late whatever the server did).
noisy() {
  [ "$(field send_late_over20 "$1")" = 0 ] || return 0
  awk -v g="$(field gen_wait_ms "$1")" -v w="$(field srv_wait_ms "$1")" -v s="$secs" \
    -v a="$(field steal_srv_ms "$1")" -v b="$(field steal_gen_ms "$1")" \
    'BEGIN { exit !(g > s * 20 || w > s * 20 || a > s * 10 || b > s * 10) }'
}

ns=""
ns_or_default() { if [ $# -gt 0 ]; then ns="$*"; else ns="100 250 500 1000 1500 2000"; fi; }

# series LABEL STARTER PORT [generator options]: every N in $ns, each on a fresh
# server; a failed run is repeated (up to TRIES in all) when it was noisy.
series() {
  local label=$1 starter=$2 p=$3 n try
  shift 3
  for n in $ns; do
    for try in $(seq "$tries"); do
      wait_quiet
      $starter
      run_load "$label" "$n" "$try" "$p" "$@"
      stop_server
      if passed "$last" || ! noisy "$last"; then break; fi
      echo "   failed while other processes took the CPU: again"
    done
  done
}

do_load() {
  ns_or_default "$@"
  series switchboard start_switchboard "$port" --token "$token" \
    --url "wss://127.0.0.1:$port/voice/stream" --to "$echo_number" --agent echo
}

do_node() {
  ns_or_default "$@"
  series node-stream start_node "$node_port" --to "$echo_number" --agent echo
}

do_first_audio() {
  local calls=${1:-20}
  start_switchboard
  echo "== first audio, $calls calls to $rule_number (receptionist); before: $(conditions)"
  taskset -c 1 "$gen" --port "$port" --first-audio "$calls" --token "$token" \
    --url "wss://127.0.0.1:$port/voice/stream" --to "$rule_number" --agent receptionist \
    | tee "$out/first-audio.txt"
  grep '^RESULT' "$out/first-audio.txt" | sed 's/^RESULT /RESULT server=switchboard /' | tee -a "$out/results" >>"$tmp/results"
  stop_server
}

# --- the summary, in Markdown ----------------------------------------------------
summary() {
  [ -s "$tmp/results" ] || return 0
  echo
  echo "switchboard $rev, ${secs}s of media per stream; $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  awk '
    function v(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
    / mode=load / {
      if (!hdr++) {
        print "| server | N | try | open | failed | lost | on time | on time (best echo) | late p99.9 ms | RTT p50 / p99 ms | server CPU | RSS idle MiB | RSS loaded MiB | KiB/call | RTT ≤ 20 ms | gen sends >5 / >20 ms late | CPU wait ms srv / gen | steal ms srv / gen |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
      }
      n = v("n"); idle = v("rss_idle_kb"); mid = v("rss_mid_kb"); srvname = v("server")
      per = (n > 0 && mid > 0) ? sprintf("%.1f", (mid - idle) / n) : "-"
      pass = (v("ontime_first") + 0 >= 99.9 && v("lost") + 0 == 0 && v("failed") + 0 == 0 && v("closed_early") + 0 == 0)
      if (pass && n + 0 > best[srvname] + 0) best[srvname] = n
      if (!(srvname in best)) best[srvname] = 0
      printf "| %s | %s | %s | %s | %s | %s | %s%%%s | %s%% | %s | %s / %s | %s%% | %.1f | %.1f | %s | %s%% | %s / %s | %s / %s | %s / %s |\n", srvname, n, v("try"), v("open"), v("failed") + v("closed_early"), v("lost"), v("ontime_first"), pass ? "" : " ✗", v("ontime_min"), v("late_p999_ms"), v("rtt_p50_ms"), v("rtt_p99_ms"), v("srv_cpu"), idle / 1024, mid / 1024, per, v("rtt_within20"), v("send_late_over5"), v("send_late_over20"), v("srv_wait_ms"), v("gen_wait_ms"), v("steal_srv_ms"), v("steal_gen_ms")
    }
    / mode=first-audio / {
      print ""
      printf "first audio (%s calls): first call %s ms, median of the rest %s ms (min %s, max %s), calls without audio %s\n", v("calls"), v("first_ms"), v("rest_median_ms"), v("rest_min_ms"), v("rest_max_ms"), v("no_audio")
    }
    END { for (k in best) printf "\nlargest N with >= 99.9%% of echoes on time, none lost, no stream failed: %s %s\n", k, best[k] ? best[k] : "none" }
  ' "$tmp/results"
  echo
  echo "(✗: below 99.9% on time, or frames lost, or streams failed.) Logs and RESULT lines: $out"
  [ -n "${SB_OUT:-}" ] || echo "(set SB_OUT to keep them)"
}

echo "switchboard $rev ($bin); generator $gen"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); open-files limit $(ulimit -n); $(conditions)"
case $mode in
  load) do_load "$@" ;;
  node) do_node "$@" ;;
  first-audio) do_first_audio "$@" ;;
  all) do_load; do_node; do_first_audio ;;
  *) die "unknown mode '$mode' (load, node, first-audio, all)" ;;
esac
summary
