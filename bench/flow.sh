#!/usr/bin/env bash
# Benchmarks one IVR flow step: a signed POST that starts a call in a flow
# (its state is looked up, the interpreter runs, the new state is committed
# before the answer goes out). Every request is a new call, so every request
# reads and writes state. switchboard pinned to CPU 0, wrk to CPU 1.
#
#   bench/flow.sh [SECONDS] [CONNECTIONS] [CALLS]   (default 8 s, 32, 400000)
#
# SB_REV and SB_PORT work as in run.sh. The signed requests are made before
# the run with python3-twilio, so wrk only replays them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-8} conns=${2:-32} calls=${3:-400000}
port=${SB_PORT:-8092}
token=test-auth-token
url=http://127.0.0.1:$port
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null

bin=$(sb_build "${SB_BUILD_DIR:-$repo/build-bench}" --buildtype=release)
export SWITCHBOARD_DB=$tmp/bench.db
"$bin" tenants add bench --lang en-US --transfer +15557654321 >/dev/null
cat > "$tmp/menu.json" <<'JSON'
{"name": "menu", "start": "welcome", "nodes": {
  "welcome": {"type": "say", "text": "Welcome.", "next": "menu"},
  "menu": {"type": "menu", "prompt": "For sales press 1. For support press 2.",
           "options": [{"digit": "1", "next": "bye"}, {"digit": "2", "next": "bye"}],
           "fallback": "bye"},
  "bye": {"type": "hangup", "text": "Goodbye."}}}
JSON
"$bin" flows import "$tmp/menu.json" --tenant bench >/dev/null
"$bin" numbers add +15005550006 --tenant bench --plan starter --flow menu >/dev/null

/usr/bin/python3 - "$url/voice/incoming" "$calls" "$token" > "$tmp/requests.txt" <<'PY'
import sys, urllib.parse
from twilio.request_validator import RequestValidator
url, n, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
v = RequestValidator(token)
for i in range(n):
    p = {"CallSid": "CA%032x" % i, "AccountSid": "AC" + "0" * 32, "From": "+15551234567",
         "To": "+15005550006", "CallStatus": "ringing", "Direction": "inbound"}
    print(v.compute_signature(url, p), urllib.parse.urlencode(p))
PY

cat > "$tmp/flow.lua" <<'LUA'
-- Replays pre-signed requests, each a new call, in order.
local reqs, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do
    local sig, body = line:match("^(%S+) (.+)$")
    reqs[#reqs + 1] = {sig, body}
  end
end
function request()
  i = i % #reqs + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded",
                                  ["X-Twilio-Signature"] = reqs[i][1]}, reqs[i][2])
end
LUA

PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token taskset -c 0 "$bin" serve \
  --listen "127.0.0.1:$port" --log-level warn 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "$url/healthz" && break; sleep 0.1; done
out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$tmp/flow.lua" "$url/voice/incoming" -- "$tmp/requests.txt")
echo "$out" | grep -E "Requests/sec|Non-2xx|  50%|  90%|  99%|requests in"
stored=$(/usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from flow_calls').fetchone()[0])" "$SWITCHBOARD_DB")
echo "flow states committed: $stored"
