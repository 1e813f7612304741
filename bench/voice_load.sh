#!/usr/bin/env bash
# Talking calls on one core: how many concurrent Media Streams calls in which
# the caller really talks switchboard carries on one core with the agent's
# replies on time, and its memory per talking call. Each stream is a caller
# who says a recorded utterance ("What are your hours?", flite's kal voice)
# every 10 s; switchboard recognises it (pocketsphinx, grammar mode) and the
# rule agent answers with synthesized audio. See "Talking calls on one core"
# in bench/README.md.
#
#   bench/voice_load.sh [N ...]       default N: 40 80 160 240 320 400
#
# For every N a fresh server (release build, --log-level info) pinned to
# CPU 0; a warm-up of 8 callers talking at once loads both recognition
# workers' decoders and fills the phrase cache; then the load generator
# (bench/stream_load.c --talk, one lws context on libev) pinned to CPU 1 plays
# N callers for SECS seconds. The figures: the replies' frames on time
# (<= 20 ms behind the reply's 20 ms schedule from its first frame), replies
# per utterance, `stream.recognized ... outcome=words` lines in the server's
# log, the server's CPU and VmRSS.
#
# environment:
#   SECS           seconds of media per stream (default 40: the first utterances
#                  are spread over 10 s from 3 s, and the last one needs 10 s
#                  for its answer, so 40 s leaves 17 s in which every caller
#                  is in its cycle; the "steady" CPU is measured there)
#   TALK           what the caller says (default "What are your hours?"), with
#                  flite's kal voice at 8 kHz
#   TALK_FILE      the caller's audio instead: raw 8 kHz mu-law, or a WAV of
#                  8 kHz mono 16-bit PCM or mu-law
#   TALK_EVERY_MS  one utterance per caller every this many ms (default 10000)
#   SB_NUMBER      the number called (default +15005550006, the seeded pro
#                  number whose agent is the rule agent, "receptionist")
#   SB_AGENT       customParameters.agent (default receptionist; '' leaves it
#                  out: the number's own agent)
#   TRIES          runs per N at most (default 2): a failed run is repeated when
#                  it was noisy (other processes took either CPU)
#   SB_PORT        switchboard's port (default 8095)
#   SB_BUILD_DIR   release build directory (default build-bench-voice-load/)
#   SB_REV         build this commit (git archive) instead of the working tree
#   SB_GEN_SPIN=0  let the generator sleep in epoll_wait (default: it polls)
#   SB_QUIET=PCT   before each run, wait until CPU pressure avg10 is under PCT%
#   SB_OUT         keep logs and RESULT lines here (default: a temporary
#                  directory, removed)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${SECS:-40}
tries=${TRIES:-2}
port=${SB_PORT:-8095}
token=test-auth-token
url=http://127.0.0.1:$port
number=${SB_NUMBER:-+15005550006}
agent=${SB_AGENT-receptionist}
talk_text=${TALK:-What are your hours?}
talk_every=${TALK_EVERY_MS:-10000}
talk_first=3000
warm_n=8
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
cpus=$(nproc --all)
[ "$cpus" -ge 2 ] || die "needs 2 CPUs: switchboard on CPU 0, the load generator on CPU 1"
dpkg-query -W -f='${Status}' libev-dev 2>/dev/null | grep -q "install ok installed" ||
  apt-get install -y -qq libev-dev >/dev/null || die "libev-dev is missing: apt-get install libev-dev"
if [ -z "${TALK_FILE:-}" ] && ! command -v flite >/dev/null; then
  apt-get install -y -qq flite >/dev/null || die "flite is missing: apt-get install flite (or set TALK_FILE)"
fi
ulimit -n 4096 2>/dev/null || true
sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"

sb_scratch voice-load
out=${SB_OUT:-$tmp/out}
mkdir -p "$out"
: >"$tmp/results"

# --- build: switchboard (release) and the load generator against it ------------------
bin=$(sb_build "${SB_BUILD_DIR:-$repo/build-bench-voice-load}" --buildtype=release) || exit 1
builddir=$(dirname "$bin")
srcdir=$repo/src
[ -z "${SB_REV:-}" ] || srcdir=$tmp/src/src
gen=$builddir/stream_load
if [ ! -x "$gen" ] || [ "$here/stream_load.c" -nt "$gen" ] || [ "$builddir/libsb_core.a" -nt "$gen" ]; then
  # shellcheck disable=SC2046
  cc -std=c11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -I"$srcdir" \
    "$here/stream_load.c" -o "$gen" "$builddir/libsb_core.a" \
    $(pkg-config --cflags --libs libwebsockets libcrypto) -lev -lpthread ||
    die "cannot build the load generator"
fi
rev=$(sb_rev)

# --- the caller's utterance --------------------------------------------------------
if [ -n "${TALK_FILE:-}" ]; then
  talk=$TALK_FILE
  [ -r "$talk" ] || die "cannot read TALK_FILE=$talk"
  talk_label=$(basename "$talk")
else
  talk=$tmp/talk.wav
  flite -voice kal -t "$talk_text" -o "$talk" || die "flite cannot say '$talk_text'"
  talk_label="\"$talk_text\" (flite kal, 8 kHz)"
fi

# --- a fresh store with the pro number ------------------------------------------------
export SWITCHBOARD_DB=$tmp/voice-load.db
sb_seed "$bin" || exit 1

log=""
start_switchboard() {
  log=$1
  sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"
  PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
    taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" --log-level info 2>"$log" &
  srv=$!
  sb_wait_healthz "$url" "$srv" || { tail "$log" >&2; die "switchboard did not start"; }
  ! grep -q "event=server.no_recognizer" "$log" ||
    die "the server has no recogniser (pocketsphinx-en-us): see $log"
  sleep 1 # idle RSS after start-up settles
}
stop_server() { sb_stop "$srv"; srv=""; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -1; }

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
steal_ms() { awk -v c="cpu$1" -v hz="$(getconf CLK_TCK)" '$1 == c { print int($9 * 1000 / hz) }' /proc/stat; }
# User and system time spent on CPU N, and by process PID (all its threads), in ticks:
# the difference over a run is what other processes took on the server's core. (The
# loop thread's own wait for the CPU is no measure of that here: the server's
# recognition threads share its core.)
busy_ticks() { awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 }' /proc/stat; }
proc_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }

gen_args() {
  local spin=--spin
  [ "${SB_GEN_SPIN:-1}" = 1 ] || spin=""
  echo "--port $port --token $token --url wss://127.0.0.1:$port/voice/stream --to $number $spin"
}

# The server log's stream.recognized lines from line FROM on: outcomes and wait_ms.
recognized() {
  tail -n "+$2" "$1" | awk '
    /event=stream.recognized/ {
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^outcome=/) o[substr($i, 9)]++
        if ($i ~ /^wait_ms=/) w[n++] = substr($i, 9) + 0
      }
    }
    function q(p,   k) { if (!n) return -1; k = int(p * (n - 1) + 0.5); return w[k] }
    END {
      # insertion sort: a few hundred values
      for (i = 1; i < n; i++) { v = w[i]; for (j = i - 1; j >= 0 && w[j] > v; j--) w[j + 1] = w[j]; w[j + 1] = v }
      printf "words=%d rejected=%d nothing=%d rec_other=%d wait_p50_ms=%d wait_p99_ms=%d wait_max_ms=%d\n",
        o["words"], o["rejected"], o["nothing"], n - o["words"] - o["rejected"] - o["nothing"],
        q(0.5), q(0.99), n ? w[n - 1] : -1
    }'
}

field() { grep '^RESULT' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# A run passes with >= 99.9% of reply frames on time, every stream open to the end,
# every utterance recognised as words and answered, and the answers in time: the
# answer gap's p95 within voice.sh's voice-to-voice target (600 ms).
gap_max_p95=600
passed() {
  awk -v t="$(field ontime_first "$1")" -v f="$(field failed "$1")" -v c="$(field closed_early "$1")" \
    -v s="$(field said "$1")" -v a="$(field answers "$1")" -v w="$(field words "$1")" \
    -v g="$(field gap_p95_ms "$1")" -v gmax="$gap_max_p95" \
    'BEGIN { exit !(t + 0 >= 99.9 && f == 0 && c == 0 && s > 0 && a == s && w == s && g + 0 <= gmax) }'
}
# Noisy: other processes took over 2% of either CPU during the run, the hypervisor
# over 1%, or the generator sent a frame over 20 ms late.
noisy() {
  [ "$(field send_late_over20 "$1")" = 0 ] || return 0
  awk -v g="$(field gen_wait_ms "$1")" -v w="$(field others_srv_ms "$1")" -v s="$secs" \
    -v a="$(field steal_srv_ms "$1")" -v b="$(field steal_gen_ms "$1")" \
    'BEGIN { exit !(g > s * 20 || w > s * 20 || a > s * 10 || b > s * 10) }'
}

# run N TRY: a fresh server, the warm-up, then N talking callers.
last=""
run() {
  local n=$1 try=$2 fresh from st0 st1 rec b0 p0 others hz
  hz=$(getconf CLK_TCK)
  last=$out/talk-$n-$try.txt
  start_switchboard "$out/server-$n-$try.log"
  fresh=$(rss_kb "$srv")
  # shellcheck disable=SC2046
  taskset -c 1 "$gen" $(gen_args) ${agent:+--agent "$agent"} -n "$warm_n" -d 7 \
    --talk "$talk" --talk-first 3000 --talk-every 3500 --talk-spread 0 --quiet \
    >"$out/warmup-$n-$try.txt" 2>&1 || die "the warm-up failed: $out/warmup-$n-$try.txt"
  sleep 1
  from=$(($(wc -l <"$log") + 1))
  echo "== N=$n, ${secs}s, try $try; before: $(conditions)"
  st0=$(steal_ms 0) st1=$(steal_ms 1) b0=$(busy_ticks 0) p0=$(proc_ticks "$srv")
  # shellcheck disable=SC2046
  taskset -c 1 "$gen" $(gen_args) ${agent:+--agent "$agent"} -n "$n" -d "$secs" \
    --server-pid "$srv" --talk "$talk" --talk-first "$talk_first" --talk-every "$talk_every" |
    tee "$last"
  others=$((($(busy_ticks 0) - b0 - $(proc_ticks "$srv") + p0) * 1000 / hz))
  [ "$others" -ge 0 ] || others=0
  st0=$(($(steal_ms 0) - st0)) st1=$(($(steal_ms 1) - st1))
  stop_server
  rec=$(recognized "$log" "$from")
  echo "recognised (server log): $rec"
  echo "other processes on CPU 0: $others ms; steal: CPU 0 (server) $st0 ms, CPU 1 (generator)" \
    "$st1 ms; after: $(conditions)"
  sed -i "s/^RESULT /RESULT try=$try rss_fresh_kb=$fresh others_srv_ms=$others steal_srv_ms=$st0 steal_gen_ms=$st1 $rec /" "$last"
  grep '^RESULT' "$last" | tee -a "$out/results" >>"$tmp/results"
}

summary() {
  [ -s "$tmp/results" ] || return 0
  echo
  echo "switchboard $rev; $cpus CPUs; $secs s per stream; the caller says $talk_label every" \
    "$talk_every ms; $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  awk -v gmax="$gap_max_p95" '
    function v(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
    / mode=talk / {
      if (!hdr++) {
        print "| N | try | utterances said | recognised as words | answers per utterance | reply frames | on time | on pace | late p99 / max ms | answer gap p50 / p95 / p99 ms | recognition wait p50 / p99 / max ms | server CPU all / steady | RSS fresh / warm idle / end MiB | KiB per call | others on CPU 0 ms / gen CPU wait ms | steal ms srv / gen |"
        print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
      }
      n = v("n"); idle = v("rss_idle_kb"); end = v("rss_end_kb"); said = v("said")
      pass = (v("ontime_first") + 0 >= 99.9 && v("failed") + 0 == 0 && v("closed_early") + 0 == 0 && said + 0 > 0 && v("answers") == said && v("words") == said && v("gap_p95_ms") + 0 <= gmax + 0)
      if (pass && n + 0 > best + 0) best = n
      if (!(n in first_rss)) { first_rss[n] = end - idle; ns[++nn] = n }
      printf "| %s | %s | %s | %s | %.3f | %s | %s%%%s | %s%% | %s / %s | %s / %s / %s | %s / %s / %s | %s%% / %s%% | %.1f / %.1f / %.1f | %.0f | %s / %s | %s / %s |\n", n, v("try"), said, v("words"), (said > 0 ? v("answers") / said : 0), v("reply_frames"), v("ontime_first"), pass ? "" : " ✗", v("onpace"), v("late_p99_ms"), v("late_max_ms"), v("gap_p50_ms"), v("gap_p95_ms"), v("gap_p99_ms"), v("wait_p50_ms"), v("wait_p99_ms"), v("wait_max_ms"), v("srv_cpu"), v("srv_cpu_steady"), v("rss_fresh_kb") / 1024, idle / 1024, end / 1024, (n > 0 ? (end - idle) / n : 0), v("others_srv_ms"), v("gen_wait_ms"), v("steal_srv_ms"), v("steal_gen_ms")
    }
    END {
      printf "\nlargest N with >= 99.9%% of reply frames on time, every utterance recognised and answered, answer gap p95 <= %s ms: %s\n", gmax, best ? best : "none"
      if (nn >= 2) {
        lo = ns[1]; hi = ns[1]
        for (i = 2; i <= nn; i++) { if (ns[i] + 0 < lo + 0) lo = ns[i]; if (ns[i] + 0 > hi + 0) hi = ns[i] }
        if (hi + 0 > lo + 0)
          printf "RSS per talking call between N=%s and N=%s (end - warm idle, first runs): %.0f KiB\n", lo, hi, (first_rss[hi] - first_rss[lo]) / (hi - lo)
      }
    }
  ' "$tmp/results"
  echo
  echo "(✗: under 99.9% of reply frames on time, a stream failed, an utterance went unrecognised or" \
    "unanswered, or the answer gap's p95 was over $gap_max_p95 ms.)"
  echo "Logs and RESULT lines: $out"
  [ -n "${SB_OUT:-}" ] || echo "(set SB_OUT to keep them)"
}

if [ $# -gt 0 ]; then ns="$*"; else ns="40 80 160 240 320 400"; fi
echo "switchboard $rev ($bin); generator $gen"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $cpus CPUs: switchboard on CPU 0, the generator on CPU 1" \
  "(nothing keeps the machine's other processes off either); $(conditions)"
echo "caller: $talk_label every $talk_every ms; number $number, agent ${agent:-"(the number's own)"}"
for n in $ns; do
  for try in $(seq "$tries"); do
    wait_quiet
    run "$n" "$try"
    if passed "$last" || ! noisy "$last"; then break; fi
    [ "$try" -lt "$tries" ] || break
    echo "   failed while other processes took the CPU: again"
  done
done
summary
