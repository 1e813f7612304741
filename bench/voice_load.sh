#!/usr/bin/env bash
# Talking calls on one core: how many concurrent Media Streams calls in which
# the caller really talks switchboard carries on one core with the agent's
# replies on time, and its memory per talking call. Each stream is a caller
# who says a recorded utterance ("What are your hours?", flite's kal voice)
# every 10 s; switchboard recognises it (pocketsphinx, grammar mode) and the
# rule agent answers with synthesized audio. See "Talking calls on one core"
# in bench/README.md.
#
#   bench/voice_load.sh [offline] [N ...]   default N: 40 80 160 240 320 400
#   bench/voice_load.sh cloud [N ...]       default N: 100 200 300 400 500
#
# cloud: the same callers on an LLM agent whose engines are Deepgram and
# ElevenLabs, played by `switchboard sim providers` with --transcripts (each
# utterance is heard as "What are your hours?" without listening) and
# --replay-audio (every synthesis is one pre-synthesized sentence, flite's
# kal voice: "We are open from nine to five on weekdays."), and whose model
# is `switchboard sim llm` (no first-token delay, no pacing, one short
# sentence a reply), so the stand-ins cost next to nothing: what is measured
# is switchboard's cloud path (the Deepgram and ElevenLabs clients, the LLM
# client, the agent). The stand-ins run pinned to CPU 1 with the generator,
# started once for all N. Counted from the server's log to show the cloud
# path ran: `stream.recognized ... stt=deepgram` and `stream.tts_first_audio`
# lines, and no `stream.stt_fallback`, `stream.tts_fallback`,
# `stream.stt_failed` or `stream.tts_failed` line.
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
#                  number whose agent is the rule agent, "receptionist"; cloud:
#                  +15005550007, whose agent is the LLM agent "voice")
#   SB_AGENT       customParameters.agent (default receptionist, cloud: voice;
#                  '' leaves it out: the number's own agent)
#   REPLY_FILE     cloud: the audio every synthesis answers with (raw 8 kHz
#                  mu-law, or an 8 kHz WAV of 16-bit PCM or mu-law) instead of
#                  the flite sentence
#   TRIES          runs per N at most (default 2): a failed run is repeated when
#                  it was noisy (other processes took either CPU)
#   SB_PORT        switchboard's port (default 8095)
#   SB_BUILD_DIR   release build directory (default build-bench-voice-load/)
#   SB_REV         build this commit (git archive) instead of the working tree
#   SB_GEN_SPIN=0  let the generator sleep in epoll_wait (default: it polls;
#                  cloud: it sleeps, since the stand-ins share its CPU; 1 polls)
#   SB_QUIET=PCT   before each run, wait until CPU pressure avg10 is under PCT%
#   SB_OUT         keep logs and RESULT lines here (default: a temporary
#                  directory, removed)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
mode=offline
case ${1:-} in
offline | cloud) mode=$1; shift ;;
-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
secs=${SECS:-40}
tries=${TRIES:-2}
port=${SB_PORT:-8095}
token=test-auth-token
url=http://127.0.0.1:$port
if [ "$mode" = cloud ]; then
  number=${SB_NUMBER:-+15005550007}
  agent=${SB_AGENT-voice}
  gen_spin=${SB_GEN_SPIN:-0}
  reply_text="We are open from nine to five on weekdays."
else
  number=${SB_NUMBER:-+15005550006}
  agent=${SB_AGENT-receptionist}
  gen_spin=${SB_GEN_SPIN:-1}
fi
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
if { [ -z "${TALK_FILE:-}" ] || { [ "$mode" = cloud ] && [ -z "${REPLY_FILE:-}" ]; }; } &&
  ! command -v flite >/dev/null; then
  apt-get install -y -qq flite >/dev/null ||
    die "flite is missing: apt-get install flite (or set TALK_FILE and REPLY_FILE)"
fi
ulimit -n 4096 2>/dev/null || true
sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"

sb_scratch voice-load
prov="" # sim providers (cloud), stopped at exit with the server and sim llm
trap 'sb_stop "$prov"; sb_scratch_cleanup' EXIT
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

# --- cloud: the stand-ins on CPU 1, and the LLM agent on their engines ----------------
# listening_port OUTFILE PID : prints the port of a sim server that wrote
# "listening on http://127.0.0.1:PORT" as its first line.
listening_port() {
  local line
  for _ in $(seq 100); do
    line=$(head -n 1 "$1" 2>/dev/null || true)
    case $line in
    "listening on http://127.0.0.1:"*) echo "${line##*:}"; return 0 ;;
    esac
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
reply_label=""
if [ "$mode" = cloud ]; then
  if [ -n "${REPLY_FILE:-}" ]; then
    reply=$REPLY_FILE
    [ -r "$reply" ] || die "cannot read REPLY_FILE=$reply"
    reply_label=$(basename "$reply")
  else
    reply=$tmp/reply.wav
    flite -voice kal -t "$reply_text" -o "$reply" || die "flite cannot say '$reply_text'"
    reply_label="\"$reply_text\" (flite kal, 8 kHz)"
  fi
  # What the Deepgram stand-in hears: every utterance is the caller's question.
  echo "${TALK:-What are your hours?}" >"$tmp/transcripts.txt"
  # One short sentence a reply (a single piece for the voice), at once.
  cat >"$tmp/llm.json" <<JSON
{"rules": [{"match": "hours", "reply": "$reply_text"}], "default": "$reply_text"}
JSON
  key=bench-provider-key
  taskset -c 1 "$bin" sim providers --listen 127.0.0.1:0 --api-key "$key" \
    --transcripts "$tmp/transcripts.txt" --replay-audio "$reply" \
    >"$tmp/providers.out" 2>"$out/providers.log" &
  prov=$!
  prov_port=$(listening_port "$tmp/providers.out" "$prov") ||
    { tail "$out/providers.log" >&2; die "sim providers did not start"; }
  taskset -c 1 "$bin" sim llm --listen 127.0.0.1:0 --script "$tmp/llm.json" \
    >"$tmp/llm.out" 2>"$out/llm.log" &
  llm=$!
  llm_port=$(listening_port "$tmp/llm.out" "$llm") ||
    { tail "$out/llm.log" >&2; die "sim llm did not start"; }
  # The keys are read from these variables by `agents add` and when each call starts.
  export SB_BENCH_LLM_KEY=sk-bench SB_BENCH_STT_KEY=$key SB_BENCH_TTS_KEY=$key
  {
    "$bin" agents add voice --tenant bench --base-url "http://127.0.0.1:$llm_port/v1" \
      --model sim-llm --api-key-env SB_BENCH_LLM_KEY \
      --stt deepgram --stt-url "http://127.0.0.1:$prov_port" --stt-key-env SB_BENCH_STT_KEY \
      --tts elevenlabs --tts-url "http://127.0.0.1:$prov_port" --tts-key-env SB_BENCH_TTS_KEY &&
      "$bin" numbers add +15005550007 --tenant bench --plan pro --agent voice
  } >"$tmp/agent.log" 2>&1 || { cat "$tmp/agent.log" >&2; die "cannot add the LLM agent"; }
fi

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
  [ "$gen_spin" = 1 ] || spin=""
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

# cloud: the server log's proof, from line FROM on, that the cloud path carried the
# calls: streams opened on deepgram + elevenlabs, utterances Deepgram recognised as
# words, pieces whose first audio came from the voice, and fallbacks or failures.
cloud_counts() {
  tail -n "+$2" "$1" | awk '
    /event=stream.engines / && / stt=deepgram / && / tts=elevenlabs/ { streams++ }
    /event=stream.recognized / && / stt=deepgram / { dg++; if (/ outcome=words /) dgw++ }
    /event=stream.tts_first_audio / { first++ }
    /event=stream.(stt|tts)_fallback / { fb++ }
    /event=stream.(stt|tts)_failed / { bad++ }
    END {
      printf "cloud_streams=%d dg=%d dg_words=%d tts_first=%d fallbacks=%d cloud_failed=%d\n",
        streams, dg, dgw, first, fb, bad
    }'
}

field() { grep '^RESULT' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# A run passes with >= 99.9% of reply frames on time, every stream open to the end,
# every utterance recognised as words and answered, and the answers in time: the
# answer gap's p95 within voice.sh's voice-to-voice target (600 ms). In cloud mode
# also: every utterance recognised by Deepgram, an answer's first audio from the
# voice for every answer, and no fallback to the offline engines, no engine failure.
gap_max_p95=600
# The awk test of a RESULT line, v(KEY) reading its fields (shared with the summary).
pass_awk='
  function passes(   said) {
    said = v("said") + 0
    if (!(v("ontime_first") + 0 >= 99.9 && v("failed") + 0 == 0 && v("closed_early") + 0 == 0 &&
          said > 0 && v("answers") + 0 == said && v("words") + 0 == said && v("gap_p95_ms") + 0 <= gmax + 0))
      return 0
    return v("cloud") != 1 || (v("dg_words") + 0 == said && v("tts_first") + 0 >= said &&
                               v("fallbacks") + 0 == 0 && v("cloud_failed") + 0 == 0)
  }'
passed() {
  grep '^RESULT' "$1" | awk -v gmax="$gap_max_p95" "$pass_awk"'
    function v(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
    { ok = passes() } END { exit !ok }'
}
# Noisy: other processes took over 2% of either CPU during the run, the hypervisor
# over 1%, or the generator sent a frame over 20 ms late. (In cloud mode the
# generator's wait for CPU 1 is mostly the stand-ins', which share it by design: it
# is reported, not counted as noise.)
noisy() {
  [ "$(field send_late_over20 "$1")" = 0 ] || return 0
  awk -v g="$(field gen_wait_ms "$1")" -v w="$(field others_srv_ms "$1")" -v s="$secs" \
    -v a="$(field steal_srv_ms "$1")" -v b="$(field steal_gen_ms "$1")" -v cloud="$([ "$mode" = cloud ] && echo 1)" \
    'BEGIN { exit !((!cloud && g > s * 20) || w > s * 20 || a > s * 10 || b > s * 10) }'
}

# run N TRY: a fresh server, the warm-up, then N talking callers.
last=""
run() {
  local n=$1 try=$2 fresh from st0 st1 rec b0 p0 others hz b1 q0 l0 t0 wall cl=""
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
  b1=$(busy_ticks 1) t0=$(date +%s%N)
  if [ "$mode" = cloud ]; then q0=$(proc_ticks "$prov") l0=$(proc_ticks "$llm"); fi
  # shellcheck disable=SC2046
  taskset -c 1 "$gen" $(gen_args) ${agent:+--agent "$agent"} -n "$n" -d "$secs" \
    --server-pid "$srv" --talk "$talk" --talk-first "$talk_first" --talk-every "$talk_every" |
    tee "$last"
  others=$((($(busy_ticks 0) - b0 - $(proc_ticks "$srv") + p0) * 1000 / hz))
  [ "$others" -ge 0 ] || others=0
  # CPU 1 over the generator's whole run: how busy it was, and the stand-ins' share
  # (percent of one core).
  wall=$((($(date +%s%N) - t0) / 1000000))
  b1=$((($(busy_ticks 1) - b1) * 100000 / hz / wall))
  if [ "$mode" = cloud ]; then
    q0=$((($(proc_ticks "$prov") - q0) * 100000 / hz / wall))
    l0=$((($(proc_ticks "$llm") - l0) * 100000 / hz / wall))
    cl="cloud=1 $(cloud_counts "$log" "$from") cpu1_busy=$b1 prov_cpu=$q0 llm_cpu=$l0"
  fi
  st0=$(($(steal_ms 0) - st0)) st1=$(($(steal_ms 1) - st1))
  stop_server
  rec=$(recognized "$log" "$from")
  echo "recognised (server log): $rec"
  [ -z "$cl" ] || echo "cloud path (server log), CPU 1 and the stand-ins (% of a core): $cl"
  echo "other processes on CPU 0: $others ms; steal: CPU 0 (server) $st0 ms, CPU 1 (generator)" \
    "$st1 ms; after: $(conditions)"
  sed -i "s/^RESULT /RESULT try=$try rss_fresh_kb=$fresh others_srv_ms=$others steal_srv_ms=$st0 steal_gen_ms=$st1 $rec ${cl:+$cl }/" "$last"
  grep '^RESULT' "$last" | tee -a "$out/results" >>"$tmp/results"
}

summary() {
  [ -s "$tmp/results" ] || return 0
  echo
  echo "switchboard $rev; $cpus CPUs; $secs s per stream; the caller says $talk_label every" \
    "$talk_every ms; $(date -u '+%Y-%m-%d %H:%M UTC')"
  [ "$mode" != cloud ] || echo "cloud: an LLM agent on deepgram + elevenlabs, played by sim" \
    "providers (--transcripts, --replay-audio $reply_label) and sim llm, on CPU 1 with the generator"
  echo
  awk -v gmax="$gap_max_p95" -v cloud="$([ "$mode" = cloud ] && echo 1)" "$pass_awk"'
    function v(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
    / mode=talk / {
      if (!hdr++) {
        printf "| N | try | utterances said | recognised as words | answers per utterance | reply frames | on time | on pace | late p99 / max ms | answer gap p50 / p95 / p99 ms | recognition wait p50 / p99 / max ms | server CPU all / steady | RSS fresh / warm idle / end MiB | KiB per call | others on CPU 0 ms / gen CPU wait ms | steal ms srv / gen |"
        if (cloud) printf " streams on deepgram + elevenlabs | Deepgram words | voice first audio | fallbacks / engine failures | CPU 1 busy / sim providers / sim llm |"
        printf "\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        print cloud ? "---:|---:|---:|---:|---:|" : ""
      }
      n = v("n"); idle = v("rss_idle_kb"); end = v("rss_end_kb"); said = v("said")
      pass = passes()
      if (pass && n + 0 > best + 0) best = n
      if (!(n in first_rss)) { first_rss[n] = end - idle; ns[++nn] = n }
      printf "| %s | %s | %s | %s | %.3f | %s | %s%%%s | %s%% | %s / %s | %s / %s / %s | %s / %s / %s | %s%% / %s%% | %.1f / %.1f / %.1f | %.0f | %s / %s | %s / %s |", n, v("try"), said, v("words"), (said > 0 ? v("answers") / said : 0), v("reply_frames"), v("ontime_first"), pass ? "" : " ✗", v("onpace"), v("late_p99_ms"), v("late_max_ms"), v("gap_p50_ms"), v("gap_p95_ms"), v("gap_p99_ms"), v("wait_p50_ms"), v("wait_p99_ms"), v("wait_max_ms"), v("srv_cpu"), v("srv_cpu_steady"), v("rss_fresh_kb") / 1024, idle / 1024, end / 1024, (n > 0 ? (end - idle) / n : 0), v("others_srv_ms"), v("gen_wait_ms"), v("steal_srv_ms"), v("steal_gen_ms")
      if (cloud)
        printf " %s | %s | %s | %s / %s | %s%% / %s%% / %s%% |", v("cloud_streams"), v("dg_words"), v("tts_first"), v("fallbacks"), v("cloud_failed"), v("cpu1_busy"), v("prov_cpu"), v("llm_cpu")
      printf "\n"
    }
    END {
      printf "\nlargest N with >= 99.9%% of reply frames on time, every utterance recognised%s and answered, answer gap p95 <= %s ms%s: %s\n", cloud ? " by Deepgram" : "", gmax, cloud ? ", no fallback" : "", best ? best : "none"
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
    "unanswered, or the answer gap's p95 was over $gap_max_p95 ms$([ "$mode" != cloud ] ||
      echo "; cloud: or an utterance not recognised by Deepgram, an answer without the voice's" \
        "audio, a fallback to an offline engine or an engine failure"))."
  echo "Logs and RESULT lines: $out"
  [ -n "${SB_OUT:-}" ] || echo "(set SB_OUT to keep them)"
}

if [ $# -gt 0 ]; then
  ns="$*"
elif [ "$mode" = cloud ]; then
  ns="100 200 300 400 500"
else
  ns="40 80 160 240 320 400"
fi
echo "switchboard $rev ($bin); generator $gen; $mode"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $cpus CPUs: switchboard on CPU 0, the generator on CPU 1" \
  "$([ "$mode" != cloud ] || echo "with sim providers and sim llm ")(nothing keeps the machine's" \
  "other processes off either); $(conditions)"
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
