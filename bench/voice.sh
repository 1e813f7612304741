#!/usr/bin/env bash
# Voice to voice on a Media Stream: how long a caller waits, after they stop
# speaking, to hear the agent. `switchboard sim call` plays the caller on a
# pro number's <Connect><Stream> (the rule agent): its `say` lines are flite
# audio sent in real time, switchboard recognises them offline (pocketsphinx)
# and answers with synthesized audio. The sim measures each turn from the end
# of the caller's audio to when the first voiced frame of the reply starts
# playing (`voice_to_voice_ms` in its --json stream summary); this script
# prints p50 / p95 / max of those, and how much of it is the end-of-turn
# silence and the server's recognition. See "Voice to voice on Media
# Streams" in bench/README.md.
#
#   bench/voice.sh                    10 turns in two calls, about 70 s
#
# Two calls of 5 turns each ("What are your hours?" and "Hello." in turn,
# each followed by `listen`): the sim bounds a stream at 60 s, and the hours
# take about 6 s to say. switchboard runs pinned to CPU 0, the sim to CPU 1.
#
# environment:
#   SB_PORT       switchboard's port (default 8094)
#   SB_BUILD_DIR  release build directory (default build-bench-voice/)
#   SB_REV        build this commit (git archive) instead of the working tree
#   SB_OUT        keep the server log and the calls' JSON transcripts here
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
port=${SB_PORT:-8094}
token=test-auth-token
url=http://127.0.0.1:$port
number=+15005550006 # sb_seed's pro number, rule agent (receptionist)
calls=2
# The server's voice activity detector ends a turn after this much quiet:
# src/media/vad.h, hangover 15 frames of 20 ms.
vad_hangover_ms=300
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
[ "$(nproc --all)" -ge 2 ] || die "needs 2 CPUs: switchboard on CPU 0, the sim on CPU 1"
sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"

sb_scratch voice
out=${SB_OUT:-$tmp/out}
mkdir -p "$out"

# --- build: release, in its own directory -------------------------------------------
bin=$(sb_build "${SB_BUILD_DIR:-$repo/build-bench-voice}" --buildtype=release) || exit 1
rev=$(sb_rev)

# --- a fresh store with the pro number; switchboard pinned to CPU 0, logs at info ----
export SWITCHBOARD_DB=$tmp/voice.db
sb_seed "$bin" || exit 1
# At info the server writes event=stream.recognized ... wait_ms=N for every utterance.
PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
  taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" --log-level info \
  2>"$out/server.log" &
srv=$!
sb_wait_healthz "$url" "$srv" || { tail "$out/server.log" >&2; die "switchboard did not start"; }

# --- the calls: hear the greeting, then 5 turns, then hang up ---------------------------
{
  echo "listen"
  for phrase in "What are your hours?" "Hello." "What are your hours?" "Hello." \
    "What are your hours?"; do
    echo "say $phrase"
    echo "listen"
  done
  echo "hangup"
} >"$tmp/a.script"
{
  echo "listen"
  for phrase in "Hello." "What are your hours?" "Hello." "What are your hours?" "Hello."; do
    echo "say $phrase"
    echo "listen"
  done
  echo "hangup"
} >"$tmp/b.script"

echo "switchboard $rev ($bin)"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); switchboard on CPU 0, sim call on CPU 1;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
for script in "$tmp/a.script" "$tmp/b.script"; do
  i=$((i + 1))
  echo "call $i of $calls: $(grep -c '^say' "$script") turns"
  TWILIO_AUTH_TOKEN=$token taskset -c 1 "$bin" sim call --url "$url/voice/incoming" \
    --from +15551234567 --to "$number" --stream-plain --json --script "$script" \
    >"$out/call$i.json" 2>"$out/call$i.err" ||
    { cat "$out/call$i.err" >&2; die "call $i failed (transcript: $out/call$i.json)"; }
done

# --- the figures --------------------------------------------------------------------
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
