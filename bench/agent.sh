#!/usr/bin/env bash
# Benchmarks the LLM agent path against `switchboard sim llm` (no delay, no
# pacing: the model answers at once, so what is left is switchboard's own
# time and the model's bare HTTP/JSON cost). See "LLM agent" in
# bench/README.md.
#
#   bench/agent.sh                    all parts, about 1.5 minutes
#
# 1. ConversationRelay: CALLS sessions on /voice/relay at once (signed
#    upgrade, setup with the stream token), each asking again as soon as its
#    last answer is complete (and, with THINK_MS, also with a pause between
#    turns): prompt -> first `text` token, p50/p90/p99/max, and turns/s.
# 2. The Gather loop: signed /voice/gather turns on 1 and GATHER_CONNS
#    keep-alive connections, then the model alone: the very chat requests
#    switchboard sends (captured through a recording proxy) replayed to sim
#    llm on as many connections. Server time = gather - model.
# 3. Memory: switchboard's VmRSS idle and with CALLS relay sessions open
#    after WARM_TURNS turns each (and at the end of the run), per session.
# (What partialResultCallback saves is measured by bench/partial.sh.)
#
# switchboard runs pinned to CPU 0 (a fresh process for each part); sim llm,
# the recording proxy and the load generator (bench/agent_load.c: one lws
# context on libev for the relay, epoll + plain sockets for HTTP) share CPU 1.
#
# environment:
#   SECS          measured seconds of each relay run (default 8)
#   CALLS         relay sessions at once (default 200)
#   THINK_MS      pauses between turns for the relay runs, "0" = at once
#                 (default "0 1000": as fast as answers come, and
#                 a turn a second per session)
#   WARM_TURNS    relay turns per session before measuring (default 3)
#   GATHER_SECS   measured seconds of each gather / model run (default 4)
#   GATHER_CONNS  connections for the loaded gather / model runs (default 32)
#   TURNS         gather turns per call before its status callback (default 8)
#   SB_PORT       switchboard's port (default 8093); SB_LLM_PORT sim llm's (8097);
#                 SB_PROXY_PORT the recording proxy's (8098)
#   SB_BUILD_DIR  release build directory (default build-bench-agent/)
#   SB_REV        build this commit (git archive) instead of the working tree
#   SB_OUT        keep logs, captured requests and RESULT lines here
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${SECS:-8}
calls=${CALLS:-200}
thinks=${THINK_MS:-0 1000}
warm_turns=${WARM_TURNS:-3}
gsecs=${GATHER_SECS:-4}
gconns=${GATHER_CONNS:-32}
turns=${TURNS:-10}
port=${SB_PORT:-8093}
llm_port=${SB_LLM_PORT:-8097}
proxy_port=${SB_PROXY_PORT:-8098}
token=test-auth-token
url=http://127.0.0.1:$port
number=+15005550007         # the LLM agent's number
capture_number=+15005550008 # the same agent's settings, through the recording proxy
prompt="How much is a cleaning?"
expect="fifty dollars"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }
dpkg-query -W -f='${Status}' libev-dev 2>/dev/null | grep -q "install ok installed" ||
  apt-get install -y -qq libev-dev >/dev/null || die "libev-dev is missing: apt-get install libev-dev"
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
[ "$(nproc --all)" -ge 2 ] || die "needs 2 CPUs: switchboard on CPU 0, the rest on CPU 1"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-agent.XXXXXX")
out=${SB_OUT:-$tmp/out}
mkdir -p "$out"
srv="" llm="" proxy=""
stop() { # stop PID: only what this script started
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop "$srv"
  stop "$proxy"
  stop "$llm"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build: switchboard (release) and the load generator against it ---------------
builddir=${SB_BUILD_DIR:-$repo/build-bench-agent}
bin=$(sb_build "$builddir" --buildtype=release) || exit 1
builddir=$(dirname "$bin")
srcdir=$repo/src
[ -z "${SB_REV:-}" ] || srcdir=$tmp/src/src
gen=$builddir/agent_load
if [ ! -x "$gen" ] || [ "$here/agent_load.c" -nt "$gen" ] || [ "$builddir/libsb_core.a" -nt "$gen" ]; then
  # shellcheck disable=SC2046
  cc -std=c11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -I"$srcdir" \
    "$here/agent_load.c" -o "$gen" "$builddir/libsb_core.a" \
    $(pkg-config --cflags --libs libwebsockets libcrypto) -lev -lpthread ||
    die "cannot build the load generator"
fi
rev=$(sb_rev)
for p in "$port" "$llm_port" "$proxy_port"; do
  sb_port_free "$p" || die "port $p is already in use (set SB_PORT / SB_LLM_PORT / SB_PROXY_PORT)"
done

# --- sim llm: the integration tests' script, no delay, pinned to CPU 1 --------------
cat >"$tmp/script.json" <<'JSON'
{"rules": [
  {"match": "person", "tool_call": {"name": "transfer_to_human", "arguments": {"reason": "the caller asked"}}},
  {"match": "cleaning", "reply": "A cleaning costs fifty dollars. Would you like to book one?"}],
 "default": "I can help with that."}
JSON
taskset -c 1 "$bin" sim llm --listen "127.0.0.1:$llm_port" --script "$tmp/script.json" \
  >"$out/llm.out" 2>"$out/llm.log" &
llm=$!
for _ in $(seq 50); do
  curl -fsS -o /dev/null "http://127.0.0.1:$llm_port/healthz" 2>/dev/null && break
  kill -0 "$llm" 2>/dev/null || die "sim llm did not start: $(cat "$out/llm.log")"
  sleep 0.1
done

# --- the recording proxy: passes chat requests to sim llm and keeps their bodies ----
mkdir -p "$out/bodies"
taskset -c 1 /usr/bin/python3 - "$proxy_port" "$llm_port" "$out/bodies" "$turns" \
  >"$out/proxy.log" 2>&1 <<'PY' &
import http.client, http.server, sys
port, upstream, outdir, keep = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
seen = [0]
class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen[0] += 1
        if seen[0] <= keep:
            with open("%s/turn-%03d.json" % (outdir, seen[0]), "wb") as f:
                f.write(body)
        c = http.client.HTTPConnection("127.0.0.1", upstream)
        c.request("POST", self.path, body, {k: v for k, v in self.headers.items()
                                            if k.lower() not in ("host", "content-length", "connection", "expect")})
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        c.close()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Proxy).serve_forever()
PY
proxy=$!

# --- the store: the agent on two numbers (sim llm directly, and through the proxy) ---
export SWITCHBOARD_DB=$tmp/agent.db
export SB_BENCH_LLM_KEY=sk-bench
{
  "$bin" tenants add bench --lang en-US --transfer +15557654321 &&
    "$bin" agents add front-desk --tenant bench --base-url "http://127.0.0.1:$llm_port/v1" \
      --model sim-llm --api-key-env SB_BENCH_LLM_KEY &&
    "$bin" agents add recorded --tenant bench --base-url "http://127.0.0.1:$proxy_port/v1" \
      --model sim-llm --api-key-env SB_BENCH_LLM_KEY &&
    "$bin" numbers add "$number" --tenant bench --plan pro --agent front-desk &&
    "$bin" numbers add "$capture_number" --tenant bench --plan pro --agent recorded
} >"$out/seed.log" 2>&1 || { cat "$out/seed.log" >&2; die "cannot seed the store"; }

start_switchboard() {
  PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
    taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" --log-level warn \
    2>>"$out/server.log" &
  srv=$!
  sb_wait_healthz "$url" "$srv" || { tail "$out/server.log" >&2; die "switchboard did not start"; }
  sleep 1 # idle RSS after start-up settles
}
stop_switchboard() { stop "$srv"; srv=""; }

results=$tmp/results
: >"$results"
# run LABEL GENERATOR-ARGS...: one run, its RESULT line kept with the label.
run() {
  local label=$1 log
  shift
  log=$out/$label.txt
  echo "== $label; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  taskset -c 1 "$gen" "$@" >"$log" 2>&1 || echo "   (the generator reported a problem; see below)"
  grep -v '^RESULT' "$log" | sed 's/^/   /'
  grep '^RESULT' "$log" | sed "s/^RESULT /RESULT label=$label /" >>"$results" || true
}

echo "switchboard $rev ($bin); generator $gen"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); switchboard on CPU 0; sim llm, proxy and generator on CPU 1"
echo

# --- 1 and 3: ConversationRelay, memory ---------------------------------------------
for think in $thinks; do
  start_switchboard
  run "relay-think$think" relay --port "$port" -n "$calls" -d "$secs" --token "$token" \
    --url "wss://127.0.0.1:$port/voice/relay" --to "$number" --prompt "$prompt" \
    --think-ms "$think" --warm-turns "$warm_turns" --server-pid "$srv"
  stop_switchboard
done

# --- 2: the Gather loop, then the model alone -----------------------------------------
start_switchboard
# One call of TURNS turns through the recording proxy: the requests switchboard sends.
run capture http --port "$port" -c 1 -d 1 --warm-secs 0 --gather --token "$token" \
  --to "$capture_number" --prompt "$prompt" --turns-per-call "$turns" >/dev/null
nbodies=$(find "$out/bodies" -name 'turn-*.json' | wc -l)
[ "$nbodies" -ge 1 ] || die "no chat request was recorded (proxy log: $(cat "$out/proxy.log"))"
echo "   recorded $nbodies chat requests, $(du -cb "$out"/bodies/turn-*.json | tail -1 | cut -f1) bytes"
stop "$proxy"
proxy=""
for c in 1 "$gconns"; do
  run "gather-c$c" http --port "$port" -c "$c" -d "$gsecs" --gather --token "$token" \
    --to "$number" --prompt "$prompt" --turns-per-call "$turns" --expect "$expect" \
    --server-pid "$srv"
done
stop_switchboard
for c in 1 "$gconns"; do
  run "model-c$c" http --port "$llm_port" -c "$c" -d "$gsecs" --server-pid "$llm" \
    --bodies "$out"/bodies/turn-*.json
done

# --- the summary, in Markdown ----------------------------------------------------------
echo
echo "switchboard $rev; $(date -u '+%Y-%m-%d %H:%M UTC'); CPU 0: switchboard; CPU 1: sim llm + generator"
echo
awk -v calls="$calls" -v gconns="$gconns" -v turns="$turns" '
  function v(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
  function thousands(x,   s, r) {
    s = sprintf("%.0f", x); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
  }
  / mode=relay / { relay[++nr] = $0 }
  / mode=gather / { g[v("conns")] = $0 }
  / mode=model / { m[v("conns")] = $0 }
  END {
    print "ConversationRelay, " calls " sessions at once, prompt -> first `text` token:"
    print ""
    print "| pause between turns | turns/s | p50 ms | p90 ms | p99 ms | max ms | last token p50 ms | server CPU | µs CPU a turn | failed |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nr; i++) {
      $0 = relay[i]; secs = v("secs"); cpu = v("srv_cpu_ms")
      printf "| %s ms | %s | %s | %s | %s | %s | %s | %.0f%% | %.1f | %d |\n", v("think_ms"), thousands(v("turns_per_s")),
        v("first_p50_ms"), v("first_p90_ms"), v("first_p99_ms"), v("first_max_ms"), v("last_p50_ms"),
        (secs > 0) ? cpu / 10 / secs : 0, (v("turns") > 0) ? cpu * 1000 / v("turns") : 0, v("failed") + v("ended") + (calls - v("open"))
      if (i == 1) { idle = v("rss_idle_kb"); warm = v("rss_warm_kb"); end = v("rss_end_kb"); open = v("open"); wt = v("warm_turns") }
    }
    print ""
    print "The Gather loop, signed /voice/gather -> TwiML, against the model alone (the same chat requests):"
    print ""
    print "| connections | gather req/s | gather p50 / p90 / p99 ms | model req/s | model p50 / p90 / p99 ms | server p50 ms (gather - model) | µs CPU a gather turn | errors / not from the model |"
    print "|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (c in g) {
      $0 = g[c]; gr = v("rate"); g50 = v("p50_ms"); g90 = v("p90_ms"); g99 = v("p99_ms"); ge = v("errors") " / " v("other")
      gcpu = (v("requests") > 0) ? v("srv_cpu_ms") * 1000 / v("requests") : 0
      $0 = m[c]; mr = v("rate"); m50 = v("p50_ms"); m90 = v("p90_ms"); m99 = v("p99_ms")
      printf "| %s | %s | %s / %s / %s | %s | %s / %s / %s | %.3f | %.1f | %s |\n", c, thousands(gr), g50, g90, g99,
        thousands(mr), m50, m90, m99, g50 - m50, gcpu, ge
    }
    print ""
    if (open > 0)
      printf "Memory: switchboard VmRSS idle %.1f MiB; with %d relay sessions open after %d turns each %.1f MiB: %.1f KiB a session; at the end of the run %.1f MiB: %.1f KiB a session.\n",
        idle / 1024, open, wt, warm / 1024, (warm - idle) / open, end / 1024, (end - idle) / open
  }
' "$results"
echo
echo "Logs, recorded requests and RESULT lines: $out"
[ -n "${SB_OUT:-}" ] || echo "(set SB_OUT to keep them)"
