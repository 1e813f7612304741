#!/usr/bin/env bash
# Benchmarks one IVR menu step: a signed POST to the flow's action URL with
# the caller's Digits. The call's state is read, the interpreter runs, and the
# new state is committed (synchronous=FULL) before the answer goes out.
#
# First every call is started (unmeasured): CALLS calls, more than the
# server keeps in memory, so that in the measured run every step reads its
# state from the store. Then each call presses 9 ("hear the menu again")
# round after round, in call order, each request a new step of its call.
# switchboard pinned to CPU 0, wrk to CPU 1.
#
#   bench/flow.sh [SECONDS] [CONNECTIONS] [CALLS]   (default 8 s, 32, 110000)
#
# Then, in the same run, the shared peers answer their (stateless) incoming
# webhook under the same load, and switchboard's step rate is printed as a
# ratio to each. SB_REV, SB_PORT and SB_PEERS work as in run.sh. The signed
# requests are made before the run with python3-twilio, so wrk only replays
# them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-8} conns=${2:-32} calls=${3:-110000}
rounds=3
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
sb_menu_flow "$tmp/menu.json"
"$bin" flows import "$tmp/menu.json" --tenant bench >/dev/null
"$bin" numbers add +15005550006 --tenant bench --plan starter --flow menu >/dev/null

# Two request files, one line each: signature, path, body.
/usr/bin/python3 - "$url" "$calls" "$rounds" "$token" "$tmp" <<'PY'
import sys, urllib.parse
from twilio.request_validator import RequestValidator
url, n, rounds, token, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
v = RequestValidator(token)
def call(i, status):
    return {"CallSid": "CA%032x" % i, "AccountSid": "AC" + "0" * 32, "From": "+15551234567",
            "To": "+15005550006", "CallStatus": status, "Direction": "inbound"}
with open(out + "/start.txt", "w") as f:
    for i in range(n):
        p = call(i, "ringing")
        f.write("%s /voice/incoming %s\n" % (v.compute_signature(url + "/voice/incoming", p),
                                             urllib.parse.urlencode(p)))
# The incoming answer waits at step 1; each press moves the call one step on.
with open(out + "/steps.txt", "w") as f:
    for r in range(rounds):
        path = "/voice/flow?step=%d" % (1 + r)
        for i in range(n):
            p = call(i, "in-progress")
            p["Digits"] = "9"
            f.write("%s %s %s\n" % (v.compute_signature(url + path, p), path,
                                    urllib.parse.urlencode(p)))
PY

# Replays the requests of a file in order. Each is formatted once, up front,
# and then only returned: building one per request would leave garbage whose
# collection pauses wrk now and then, and those pauses would be counted as
# server latency.
cat > "$tmp/replay.lua" <<'LUA'
local reqs, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do
    local sig, path, body = line:match("^(%S+) (%S+) (.+)$")
    reqs[#reqs + 1] = wrk.format("POST", path, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = sig}, body)
  end
  collectgarbage("collect")
  collectgarbage("stop")
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
LUA

PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token taskset -c 0 "$bin" serve \
  --listen "127.0.0.1:$port" --log-level warn 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "$url/healthz" && break; sleep 0.1; done

count_states() {
  /usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" \
    "$SWITCHBOARD_DB" "$1"
}
# Start every call, at 10,000 a second or more; a request past the last one
# starts an earlier call again, which gives it the same state.
taskset -c 1 wrk -t1 -c"$conns" -d$((calls / 10000 + 2))s -s "$tmp/replay.lua" "$url" -- "$tmp/start.txt" >/dev/null
started=$(count_states "select count(*) from flow_calls where step_no = 1")
[ "$started" = "$calls" ] || { echo "bench: only $started of $calls calls started" >&2; exit 1; }

out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$tmp/replay.lua" "$url" -- "$tmp/steps.txt")
echo "$out" | grep -E "Requests/sec|Non-2xx|  50%|  90%|  99%|requests in"
echo "menu steps committed: $(count_states "select coalesce(sum(step_no - 1), 0) from flow_calls")"
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=

peers=${SB_PEERS:-$(dirname "$repo")/shared/bench/peers/run.sh}
[ -x "$peers" ] || { echo "bench: no peers script at $peers (set SB_PEERS); skipping them"; exit 0; }
echo
echo "beside the peers (their incoming webhook, no state), ${secs}s, ${conns} connections:"
TWILIO_AUTH_TOKEN=$token "$peers" "$secs" "$conns" | tee "$tmp/peers"
step_rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
awk -v sb="$step_rate" 'NR > 1 && $2 ~ /^[0-9.]+$/ && $2 > 0 {
  printf "switchboard menu step / %-16s %8.2fx\n", $1, sb / $2 }' "$tmp/peers"
