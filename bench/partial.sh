#!/usr/bin/env bash
# What partialResultCallback saves on the Gather loop: the time from the
# caller's final speech result (Twilio's request to /voice/gather) to
# switchboard's answer, with and without partial results, against `switchboard
# sim llm` with a model delay. See "partialResultCallback" in bench/README.md.
#
#   bench/partial.sh                  about 1 minute
#
# `sim call` plays the caller of an LLM agent's number: each turn it posts a
# partial result a word, then one with nothing unstable left, waits
# SPEECH_END_MS (Twilio's end-of-speech silence), then posts the final result;
# with --no-partial-results it posts only the final one. The figure is each
# final request's time until its TwiML (plus a continuation's, when the turn was
# held), from sim call's own transcript.
#
# environment:
#   TTFT_MS        the model's times to first token to try (default "300 800")
#   WORDS_PER_S    the model's pace (default 50)
#   SPEECH_END_MS  end-of-speech silence before the final result (default 600)
#   TURNS          turns per call (default 10)
#   SB_PORT        switchboard's port (default 8093); SB_LLM_PORT sim llm's (8097)
#   SB_BUILD_DIR   release build directory (default build-bench-agent/)
#   SB_REV         build this commit (git archive) instead of the working tree
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
ttfts=${TTFT_MS:-300 800}
pace=${WORDS_PER_S:-50}
speech_end=${SPEECH_END_MS:-600}
turns=${TURNS:-10}
port=${SB_PORT:-8093}
llm_port=${SB_LLM_PORT:-8097}
token=test-auth-token
url=http://127.0.0.1:$port
number=+15005550007
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }
sb_scratch partial

builddir=${SB_BUILD_DIR:-$repo/build-bench-agent}
bin=$(sb_build "$builddir" --buildtype=release) || exit 1
rev=$(sb_rev)
for p in "$port" "$llm_port"; do
  sb_port_free "$p" || die "port $p is already in use (set SB_PORT / SB_LLM_PORT)"
done

cat >"$tmp/script.json" <<'JSON'
{"rules": [{"match": "cleaning", "reply": "A cleaning costs fifty dollars. Would you like to book one?"}],
 "default": "I can help with that."}
JSON
{
  for _ in $(seq "$turns"); do
    echo "say How much is a cleaning for my son?"
    echo "expect say fifty dollars"
  done
  echo "hangup"
} >"$tmp/caller.txt"

export SWITCHBOARD_DB=$tmp/agent.db
export SB_BENCH_LLM_KEY=sk-bench
{
  "$bin" tenants add bench --lang en-US --transfer +15557654321 &&
    "$bin" agents add front-desk --tenant bench --base-url "http://127.0.0.1:$llm_port/v1" \
      --model sim-llm --api-key-env SB_BENCH_LLM_KEY &&
    "$bin" numbers add "$number" --tenant bench --plan starter --agent front-desk
} >"$tmp/seed.log" 2>&1 || { cat "$tmp/seed.log" >&2; die "cannot seed the store"; }

PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
  "$bin" serve --listen "127.0.0.1:$port" --log-level warn 2>>"$tmp/server.log" &
srv=$!
sb_wait_healthz "$url" "$srv" || { tail "$tmp/server.log" >&2; die "switchboard did not start"; }

echo "switchboard $rev; $(date -u '+%Y-%m-%d %H:%M UTC'); sim llm at $pace words/s; end of speech $speech_end ms; $turns turns a call"
echo
echo "| model's first token | without partials p50 / max ms | with partials p50 / max ms | saved at p50 ms | turns started early |"
echo "|---:|---:|---:|---:|---:|"
for ttft in $ttfts; do
  "$bin" sim llm --listen "127.0.0.1:$llm_port" --script "$tmp/script.json" \
    --first-token-ms "$ttft" --tokens-per-second "$pace" >"$tmp/llm.out" 2>"$tmp/llm.log" &
  llm=$!
  for _ in $(seq 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$llm_port/healthz" 2>/dev/null && break
    sleep 0.1
  done
  for mode in without with; do
    flags=(--speech-end-ms "$speech_end")
    [ "$mode" = with ] || flags+=(--no-partial-results)
    "$bin" sim call --url "$url/voice/incoming" --from +15551234567 --to "$number" \
      --token "$token" --script "$tmp/caller.txt" --json "${flags[@]}" >"$tmp/$mode-$ttft.json" ||
      die "the $mode-partials call failed: $(head -c 2000 "$tmp/$mode-$ttft.json")"
  done
  used=$(curl -fsS "$url/metrics" | sed -n 's/^switchboard_agent_events_total{event="speculation_used"} //p')
  /usr/bin/python3 - "$tmp/without-$ttft.json" "$tmp/with-$ttft.json" "$ttft" "${used:-0}" <<'PY'
import json, statistics, sys
def finals(path):
    """Each turn's final request to /voice/gather, plus the continuations that finished it."""
    out = []
    for e in json.load(open(path))["events"]:
        if e["kind"] != "request":
            continue
        if e["url"].endswith("/voice/gather"):
            out.append(e["ms"])
        elif e["url"].endswith("/voice/gather/continue") and out:
            out[-1] += e["ms"]
    return out
a, b = finals(sys.argv[1]), finals(sys.argv[2])
pa, pb = statistics.median(a), statistics.median(b)
print("| %s ms | %.1f / %.1f | %.1f / %.1f | %.1f | %s of %d |" % (sys.argv[3], pa, max(a), pb, max(b), pa - pb, sys.argv[4], len(b)))
PY
  sb_stop "$llm"
  llm=""
  # The counter is the server's total: a fresh server for each model delay.
  sb_stop "$srv"
  PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
    "$bin" serve --listen "127.0.0.1:$port" --log-level warn 2>>"$tmp/server.log" &
  srv=$!
  sb_wait_healthz "$url" "$srv" || die "switchboard did not restart"
done
