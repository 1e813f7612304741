#!/usr/bin/env bash
# Soak: switchboard under mixed signed traffic and attacks at once for a long
# run (default 10 minutes), to show that memory and descriptors stay flat,
# that nothing is logged at level=error, and what latency legitimate webhooks
# get while the attacks go on. See "Soak" in bench/README.md.
#
#   bench/soak.sh [SECONDS]        (default: $SOAK_SECONDS, else 600)
#
# The traffic (bench/soak_traffic.py, all to 127.0.0.1):
#   - whole calls, paced at about 80 requests a second: incoming (pro, a
#     Spanish caller on a starter number, an IVR flow), gather or two flow
#     steps, three status callbacks;
#   - media streams: three `switchboard sim` calls at a time (rule agent and
#     echo agent), each through its incoming webhook;
#   - every 0.5 s, nine requests to every route pipelined in one write;
#   - slowloris: 20 sockets sending headers or a body a byte a second;
#     10 idle sockets; every 5 s a flood of twice the per-address cap;
#     ten malformed requests a second (garbage, long paths, huge headers,
#     TRACE/CONNECT, bad chunking, NUL bytes, a bare WebSocket upgrade).
# The server's RSS, open descriptors and threads are sampled every 10 s.
# Exits non-zero when a legitimate request went wrong or unanswered, an error
# line was logged, or RSS or descriptors grew after the warm-up.
#
# environment:
#   SOAK_SECONDS  the duration (the argument wins)
#   SB_PORT       switchboard's port (default 8093)
#   SB_BUILD_DIR  release build directory (default build-bench/)
#   SB_REV        build this commit (git archive) instead of the working tree
#   SB_OUT        keep the server log and soak-summary.json here (default: removed)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-${SOAK_SECONDS:-600}}
port=${SB_PORT:-8093}
per_ip=32
token=test-auth-token
url=http://127.0.0.1:$port
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

die() { echo "soak: $*" >&2; exit 1; }
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -ge 10 ] || die "duration must be whole seconds, at least 10"
sb_port_free "$port" || die "port $port is already in use (set SB_PORT)"
ulimit -n 4096 2>/dev/null || true

sb_scratch soak
out=${SB_OUT:-$tmp/out}
mkdir -p "$out"

bin=$(sb_build "${SB_BUILD_DIR:-$repo/build-bench}" --buildtype=release) || exit 1
rev=$(sb_rev)

# --- a fresh store: pro (rule agent), echo, a starter number and an IVR flow ---
export SWITCHBOARD_DB=$tmp/soak.db
sb_menu_flow "$tmp/menu.json"
{
  "$bin" tenants add soak --lang en-US --transfer +15557654321 \
    --greeting "es-MX=¿En qué podemos ayudarle? Gracias por llamar, señor Núñez." &&
    "$bin" numbers add +15005550006 --tenant soak --plan pro --agent receptionist &&
    "$bin" numbers add +15005550007 --tenant soak --plan pro --agent echo &&
    "$bin" numbers add +15005550001 --tenant soak --plan starter &&
    "$bin" flows import "$tmp/menu.json" --tenant soak &&
    "$bin" numbers add +15005550008 --tenant soak --plan starter &&
    "$bin" numbers set-flow +15005550008 menu
} >/dev/null 2>"$tmp/seed.log" || { cat "$tmp/seed.log" >&2; die "cannot seed the store"; }

# Small limits, so that the attacks are cut off within seconds.
PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token "$bin" serve --listen "127.0.0.1:$port" \
  --log-level warn --header-timeout 5 --body-timeout 5 --stream-start-timeout 5 \
  --stream-idle-timeout 10 --max-connections 1024 --max-connections-per-ip "$per_ip" \
  2>"$out/server.log" &
srv=$!
sb_wait_healthz "$url" "$srv" || { cat "$out/server.log" >&2; die "switchboard did not start"; }

echo "switchboard $rev ($bin), soak of ${secs}s; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "before: load average $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
/usr/bin/python3 "$here/soak_traffic.py" --port "$port" --pid "$srv" --token "$token" --bin "$bin" \
  --log "$out/server.log" --seconds "$secs" --per-ip "$per_ip" --out "$out" || rc=$?
echo "after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -q "level=error" "$out/server.log"; then
  echo "error lines (first 5):"
  grep "level=error" "$out/server.log" | head -n 5
fi
[ -n "${SB_OUT:-}" ] || echo "(set SB_OUT to keep the server log and soak-summary.json)"
exit "$rc"
