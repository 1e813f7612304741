#!/usr/bin/env bash
# Voice to voice on a Media Stream: how long a caller waits, after they stop
# speaking, to hear the agent. `switchboard sim call` plays the caller on a
# pro number's <Connect><Stream>: its `say` lines are flite audio sent in
# real time. The sim measures each turn from the end of the caller's audio
# to when the first voiced frame of the reply starts playing
# (`voice_to_voice_ms` in its --json stream summary); this script prints
# p50 / p95 / max of those and where the time goes. See "Voice to voice on
# Media Streams" and "Voice to voice with cloud engines (stand-ins)" in
# bench/README.md.
#
#   bench/voice.sh [offline]          the rule agent, pocketsphinx and flite; about 70 s
#   bench/voice.sh cloud              an LLM agent on Deepgram and ElevenLabs, played by
#                                     `sim providers` and `sim llm`; about 50 s
#
# offline: switchboard recognises the caller offline (pocketsphinx) and the
# rule agent answers with flite; printed: the end-of-turn silence and the
# server's recognition.
#
# cloud: an LLM agent (`--stt deepgram --tts elevenlabs`) whose engines are
# `switchboard sim providers` (the Deepgram stand-in answers each utterance
# with the next line of a transcript list, without listening; the
# ElevenLabs stand-in speaks with espeak-ng) and whose model is `switchboard
# sim llm` (a script of one-sentence replies, no first-token delay, no
# pacing). Printed per turn, from the sim's transcript and the server's
# info log: the end of the caller's audio to switchboard's end of turn
# (Finalize), Deepgram's wait (Finalize to the words), the model (the words
# to the first reply piece asked of the voice), the voice's wait (that piece
# to its first audio), and switchboard's share: what is left of voice to
# voice.
#
# Ten turns in two calls of five ("What are your hours?" and "Hello.", each
# followed by `listen`): the sim bounds a stream at 60 s, and the hours take
# about 6 s to say with the rule agent. Offline the second call starts with
# "Hello."; in cloud mode both calls say the same five lines, because the
# Deepgram stand-in reads its transcript list from the first line on every
# stream. switchboard runs pinned to CPU 0; the sim (and, in cloud mode, the
# stand-ins) on CPU 1.
#
# environment:
#   SB_PORT       switchboard's port (default 8094)
#   SB_BUILD_DIR  release build directory (default build-bench-voice/)
#   SB_REV        build this commit (git archive) instead of the working tree
#   SB_OUT        keep the server log, the stand-ins' logs and the calls' JSON transcripts here
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
mode=${1:-offline}
port=${SB_PORT:-8094}
token=test-auth-token
url=http://127.0.0.1:$port
number=+15005550006 # sb_seed's pro number, rule agent (receptionist)
cloud_number=+15005550007
calls=2
# The server's voice activity detector ends a turn after this much quiet:
# src/media/vad.h, hangover 15 frames of 20 ms.
vad_hangover_ms=300
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }
case $mode in
offline | cloud) ;;
-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
*) die "usage: bench/voice.sh [offline|cloud]" ;;
esac
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
[ "$(nproc --all)" -ge 2 ] || die "needs 2 CPUs: switchboard on CPU 0, the sim on CPU 1"
sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"

sb_scratch voice
prov="" # sim providers, stopped at exit with the server and sim llm
trap 'sb_stop "$prov"; sb_scratch_cleanup' EXIT
out=${SB_OUT:-$tmp/out}
mkdir -p "$out"

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

# --- build: release, in its own directory -------------------------------------------
bin=$(sb_build "${SB_BUILD_DIR:-$repo/build-bench-voice}" --buildtype=release) || exit 1
rev=$(sb_rev)

# --- a fresh store with the pro number ------------------------------------------------
export SWITCHBOARD_DB=$tmp/voice.db
sb_seed "$bin" || exit 1

phrases_a=("What are your hours?" "Hello." "What are your hours?" "Hello." "What are your hours?")
phrases_b=("Hello." "What are your hours?" "Hello." "What are your hours?" "Hello.")
if [ "$mode" = cloud ]; then
  phrases_b=("${phrases_a[@]}")
  number=$cloud_number
  # What the Deepgram stand-in "hears": the caller's lines, in order, on each stream.
  printf '%s\n' "${phrases_a[@]}" >"$tmp/transcripts.txt"
  # One sentence a reply, so each reply is one piece for the voice.
  cat >"$tmp/llm.json" <<'JSON'
{"rules": [
  {"match": "hours", "reply": "We are open from nine to five on weekdays."},
  {"match": "hello", "reply": "How can I help you today?"}],
 "default": "I can help with that."}
JSON
  key=bench-provider-key
  taskset -c 1 "$bin" sim providers --listen 127.0.0.1:0 --api-key "$key" \
    --transcripts "$tmp/transcripts.txt" >"$tmp/providers.out" 2>"$out/providers.log" &
  prov=$!
  prov_port=$(listening_port "$tmp/providers.out" "$prov") ||
    { cat "$out/providers.log" >&2; die "sim providers did not start"; }
  taskset -c 1 "$bin" sim llm --listen 127.0.0.1:0 --script "$tmp/llm.json" \
    >"$tmp/llm.out" 2>"$out/llm.log" &
  llm=$!
  llm_port=$(listening_port "$tmp/llm.out" "$llm") ||
    { cat "$out/llm.log" >&2; die "sim llm did not start"; }
  # The keys are read from these variables when `agents add` checks them and when
  # each call starts.
  export SB_BENCH_LLM_KEY=sk-bench SB_BENCH_STT_KEY=$key SB_BENCH_TTS_KEY=$key
  {
    "$bin" agents add voice --tenant bench --base-url "http://127.0.0.1:$llm_port/v1" \
      --model sim-llm --api-key-env SB_BENCH_LLM_KEY \
      --stt deepgram --stt-url "http://127.0.0.1:$prov_port" --stt-key-env SB_BENCH_STT_KEY \
      --tts elevenlabs --tts-url "http://127.0.0.1:$prov_port" --tts-key-env SB_BENCH_TTS_KEY &&
      "$bin" numbers add "$number" --tenant bench --plan pro --agent voice
  } >"$tmp/agent.log" 2>&1 || { cat "$tmp/agent.log" >&2; die "cannot add the LLM agent"; }
fi

# --- switchboard pinned to CPU 0, logs at info ----------------------------------------
# At info the server writes event=stream.recognized ... wait_ms=N for every utterance
# and, with a cloud voice, event=stream.tts_first_audio ... wait_ms=N for every piece.
PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
  taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" --log-level info \
  2>"$out/server.log" &
srv=$!
sb_wait_healthz "$url" "$srv" || { tail "$out/server.log" >&2; die "switchboard did not start"; }

# --- the calls: hear the greeting, then 5 turns, then hang up ---------------------------
script_of() { # script_of PHRASE... : listen, then say and listen for each, then hang up
  echo "listen"
  for phrase in "$@"; do
    echo "say $phrase"
    echo "listen"
  done
  echo "hangup"
}
script_of "${phrases_a[@]}" >"$tmp/a.script"
script_of "${phrases_b[@]}" >"$tmp/b.script"

echo "switchboard $rev ($bin); $mode"
if [ "$mode" = cloud ]; then
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); switchboard on CPU 0, sim call, sim providers and" \
    "sim llm on CPU 1; load average $(cut -d' ' -f1-3 /proc/loadavg)"
else
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); switchboard on CPU 0, sim call on CPU 1;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
fi
i=0
for script in "$tmp/a.script" "$tmp/b.script"; do
  i=$((i + 1))
  echo "call $i of $calls: $(grep -c '^say' "$script") turns"
  TWILIO_AUTH_TOKEN=$token taskset -c 1 "$bin" sim call --url "$url/voice/incoming" \
    --from +15551234567 --to "$number" --stream-plain --json --script "$script" \
    >"$out/call$i.json" 2>"$out/call$i.err" ||
    { cat "$out/call$i.err" >&2; die "call $i failed (transcript: $out/call$i.json)"; }
done
# The stand-ins' logs are complete once they have stopped.
sb_stop "$prov"
prov=""
sb_stop "$llm"
llm=""

# --- the figures --------------------------------------------------------------------
if [ "$mode" = offline ]; then
  /usr/bin/python3 - "$vad_hangover_ms" "$out/server.log" \
    "$out/call1.json" "$tmp/a.script" "$out/call2.json" "$tmp/b.script" <<'PY'
import json, math, re, sys

hangover = int(sys.argv[1])
log, pairs = sys.argv[2], list(zip(sys.argv[3::2], sys.argv[4::2]))

def pct(xs, p):
    """Nearest rank: the smallest value with at least p% of the values at or under it."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]

def line(name, xs):
    if not xs:
        return "%-44s none" % name
    return "%-44s p50 %5d   p95 %5d   max %5d ms   (%d)" % (
        name, pct(xs, 50), pct(xs, 95), max(xs), len(xs))

v2v, gaps, lead, turns, by_phrase = [], [], [], 0, {}
for path, script in pairs:
    with open(path) as f:
        doc = json.load(f)
    with open(script) as f:
        said = [l[4:].strip() for l in f if l.startswith("say ")]
    for ev in doc["events"]:
        if ev.get("kind") != "stream":
            continue
        ms = ev.get("voice_to_voice_ms", [])
        turns += len(ms)
        for v, g, phrase in zip(ms, ev.get("turn_gaps_ms", []), said):
            if v is None:
                continue
            v2v.append(v)
            gaps.append(g)
            lead.append(v - g)
            by_phrase.setdefault(phrase, []).append(v)
waits, outcomes = [], {}
with open(log) as f:
    for l in f:
        if "event=stream.recognized" in l:
            m = re.search(r" wait_ms=(\d+)", l)
            o = re.search(r" outcome=(\S+)", l)
            if m:
                waits.append(int(m.group(1)))
            if o:
                outcomes[o.group(1)] = outcomes.get(o.group(1), 0) + 1

print()
print("caller turns: %d; answered with voice: %d" % (turns, len(v2v)))
print(line("voice to voice", v2v))
print(line("  first reply audio arrives", gaps))
print("%-44s %5d ms (constant: src/media/vad.h hangover, 15 frames x 20 ms)"
      % ("    end-of-turn silence", hangover))
print(line("    recognition (server wait_ms)", waits))
print(line("  quiet start of the reply's audio", lead))
for phrase, xs in sorted(by_phrase.items()):
    print(line("voice to voice after \"%s\"" % phrase, xs))
print("recognised: " + ", ".join("%s %d" % kv for kv in sorted(outcomes.items())))
print("The 300 ms of quiet count from the caller's last loud frame: flite ends each clip")
print("with near-silence (about 115 ms), sent as part of the caller's audio, so that part")
print("of the 300 ms is before the end of the audio the latency starts from.")
if len(v2v) < turns:
    sys.exit("bench: %d turns got no voiced reply" % (turns - len(v2v)))
PY
  exit
fi

/usr/bin/python3 - "$vad_hangover_ms" "$out/server.log" "$out/llm.log" "$out/providers.log" \
  "$out/call1.json" "$tmp/a.script" "$out/call2.json" "$tmp/b.script" <<'PY'
import calendar, json, math, re, sys, time

hangover = int(sys.argv[1])
server_log, llm_log, prov_log = sys.argv[2:5]
pairs = list(zip(sys.argv[5::2], sys.argv[6::2]))

def pct(xs, p):
    """Nearest rank: the smallest value with at least p% of the values at or under it."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]

def line(name, xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "%-50s none" % name
    return "%-50s p50 %5d   p95 %5d   max %5d ms   (%d)" % (
        name, pct(xs, 50), pct(xs, 95), max(xs), len(xs))

def wall_ms(l):
    """The ts= of a log line, in ms since the epoch."""
    m = re.match(r"ts=(\d+-\d+-\d+T\d+:\d+:\d+)\.(\d{3})Z ", l)
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) * 1000 + int(m.group(2))

def field(l, name):
    m = re.search(r" %s=(\S+)" % name, l)
    return m.group(1) if m else None

# The server's log, stream by stream (the calls run one after the other): when the
# stream started; each utterance recognised (when its words reached the loop, its
# number, outcome, engine, and wait_ms from Finalize); each piece of the voice (when it
# was asked: the first-audio line's time less its wait_ms, its number, that wait).
streams, bad = [], []
with open(server_log) as f:
    for l in f:
        if "event=stream.started" in l:
            streams.append({"started": wall_ms(l), "heard": [], "pieces": []})
        elif not streams:
            continue
        elif "event=stream.recognized" in l:
            streams[-1]["heard"].append((wall_ms(l), int(field(l, "utterance")),
                                         field(l, "outcome"), field(l, "stt"),
                                         int(field(l, "wait_ms"))))
        elif "event=stream.tts_first_audio" in l:
            t, w = wall_ms(l), int(field(l, "wait_ms"))
            streams[-1]["pieces"].append((t - w, int(field(l, "utterance")), w))
        elif re.search(r"event=stream\.(stt_|tts_)(fallback|failed|slow)|event=deepgram\.", l):
            bad.append(l.split(" event=", 1)[1].strip())
# sim llm's own time for each chat request, and the stand-in's synthesis time for
# each piece, in order.
with open(llm_log) as f:
    llm_ms = [float(field(l, "ms")) for l in f
              if "event=llm.request" in l and "chat/completions" in l]
with open(prov_log) as f:
    synth_ms = [float(field(l, "ms")) for l in f if "event=providers.synthesized" in l]

rows, anchors, turns = [], [], 0
for k, (path, script) in enumerate(pairs):
    with open(path) as f:
        doc = json.load(f)
    with open(script) as f:
        said = [l[4:].strip() for l in f if l.startswith("say ")]
    evs = [e for e in doc["events"] if e.get("kind") == "stream-event"]
    summary = [e for e in doc["events"] if e.get("kind") == "stream"][0]
    t_open = [e["t"] for e in evs if e["event"] == "connected"][0]
    starts = [e["t"] for e in evs if e["event"] == "reply-start"]
    turn_t = {}
    for e in evs:
        if e["event"] == "turn":
            turn_t[int(e["detail"].split()[0].split("=")[1]) - 1] = e["t"]
    st = streams[k] if k < len(streams) else {"started": 0, "heard": [], "pieces": []}
    # The sim's stream clock is put on the server's at `connected` = stream.started.
    # Checked with the greeting (the voice's utterance 1): its first audio on the
    # server's loop and its arrival at the caller should be the same moment.
    greeting = [p for p in st["pieces"] if p[1] == 1]
    if greeting and starts:
        anchors.append(round((starts[0] - t_open) * 1000) - (greeting[0][0] + greeting[0][2] - st["started"]))
    # The recogniser's utterance N is the caller's Nth `say`; the reply to it is the
    # first piece asked of the voice once its words came (utterance N + 1 of the voice
    # when each reply is one piece: the greeting is 1).
    heard = {u: (t, o, s, w) for t, u, o, s, w in st["heard"]}
    for n, (v, g) in enumerate(zip(summary["voice_to_voice_ms"], summary["turn_gaps_ms"])):
        turns += 1
        r = {"v2v": v, "gap": g, "phrase": said[n] if n < len(said) else "?"}
        rows.append(r)
        if v is None or n not in turn_t:
            continue
        # The end of the caller's audio, on the server's clock: the arrival of the
        # reply's first message less the turn gap.
        arrive = max([s for s in starts if s <= turn_t[n] + 1e-9], default=None)
        h = heard.get(n + 1)
        if arrive is None or h is None or h[1] != "words" or h[2] != "deepgram":
            continue
        t_words, _, _, dg = h
        end_audio = st["started"] + round((arrive - t_open) * 1000) - g
        later = [p for p in st["pieces"] if p[0] >= t_words - 1]
        r["heard"] = n + 1
        r["silence"] = t_words - dg - end_audio
        r["dg"] = dg
        if later:
            asked, utt, tts = later[0]
            r["model"] = asked - t_words
            r["tts"] = tts
            r["piece"] = utt
            r["share"] = v - r["silence"] - dg - r["model"] - tts
            r["quiet"] = v - g
            # Counting the waits as switchboard's too, less what the stand-ins report
            # as their own work (sim llm's request, espeak-ng's synthesis of the piece;
            # the Deepgram stand-in reading its transcript list does none).
            i = k * (len(said) + 1) + utt - 1
            if len(synth_ms) == len(pairs) * (len(said) + 1) and len(llm_ms) == len(pairs) * len(said):
                r["whole"] = round(v - r["silence"] - llm_ms[k * len(said) + n] - synth_ms[i])
rows_ok = [r for r in rows if "share" in r]
col = lambda name: [r.get(name) for r in rows_ok]
v2v_all = [r["v2v"] for r in rows if r["v2v"] is not None]

print()
print("caller turns: %d; answered with voice: %d; broken down: %d" % (turns, len(v2v_all), len(rows_ok)))
print(line("voice to voice", v2v_all))
print(line("  end of the caller's audio -> end of turn", col("silence")))
print("%-50s (the %d ms hangover less the clip's quiet end)" % ("", hangover))
print(line("  Deepgram: Finalize -> words (wait_ms)", col("dg")))
print(line("  model: words -> first piece asked (log ts)", col("model")))
print(line("    sim llm's own time a request", [round(x) for x in llm_ms]))
print(line("  voice: piece asked -> first audio (wait_ms)", col("tts")))
print(line("    espeak-ng's synthesis a piece (stand-in)", [round(x) for x in synth_ms]))
print(line("switchboard's share: v2v - the four above", col("share")))
print(line("  of which quiet start of the reply's audio", col("quiet")))
print(line("share counting the waits, less stand-ins' work", col("whole")))
print("clocks: greeting's first audio at the caller - on the server: %s ms"
      % ", ".join(str(a) for a in anchors))
print()
print("%4s %-21s %5s %5s %5s %7s %5s %5s %5s %5s %5s" % (
    "turn", "caller says", "heard", "piece", "v2v", "silence", "dg", "model", "voice", "share",
    "whole"))
for i, r in enumerate(rows):
    print("%4d %-21s %5s %5s %5s %7s %5s %5s %5s %5s %5s" % tuple(
        [i + 1, r["phrase"][:21]] + [r.get(k, "-") for k in
                                      ("heard", "piece", "v2v", "silence", "dg", "model", "tts",
                                       "share", "whole")]))
if bad:
    print("fallbacks or provider trouble: " + "; ".join(bad[:5]))
if len(v2v_all) < turns:
    sys.exit("bench: %d turns got no voiced reply" % (turns - len(v2v_all)))
if len(rows_ok) < turns:
    sys.exit("bench: %d turns could not be broken down" % (turns - len(rows_ok)))
PY
