#!/usr/bin/env bash
# The two store backends side by side, in one run: SQLite (a file, WAL,
# synchronous=FULL) and PostgreSQL (a server of this script's own, on a Unix
# socket, fsync on). See "Store backends" in bench/README.md.
#
#   bench/store.sh [SECONDS] [CONNECTIONS] [REQUESTS]   default 8 s, 64, 400000
#
# On each backend, a fresh store seeded like run.sh's, and:
# (a) status callbacks: signed POST /voice/status, each a different call
#     (CallStatus=completed, SequenceNumber=1), REQUESTS of them made before
#     the run and replayed once each by wrk. switchboard answers 204 only
#     after the writer has committed the event, so req/s is events stored per
#     second. Afterwards the calls stored as completed are counted (sqlite3,
#     psql) and must match the 2xx answers wrk saw: at least as many, and at
#     most CONNECTIONS more (requests the server took and committed while wrk
#     was stopping, whose answers it no longer read).
# (b) incoming webhooks: the pro number's signed POST /voice/incoming, the
#     request of run.sh and the shared peers.
# Then a Markdown table: req/s, p50, p99, errors (non-2xx and socket
# errors) and PostgreSQL / SQLite, with the targets (the issue): (a) at
# least 10,000/s on PostgreSQL, (b) PostgreSQL at least 0.8x SQLite.
#
# CPUs (the machine has 2): switchboard, and the PostgreSQL server with all
# its processes, share CPU 0; wrk has CPU 1. The store's work is on CPU 0 with
# both backends: SQLite's writer is a thread of switchboard, PostgreSQL's
# backends and WAL writer are processes started from the pinned postmaster.
#
# environment:
#   SB_PORT       switchboard's port (default 8097)
#   SB_PG_CPU     the CPU list for PostgreSQL (default 0, switchboard's)
#   SB_BUILD_DIR  release build directory (default build-bench/)
#   SB_REV        build this commit (git archive) instead of the working tree
#   SB_LOG_LEVEL  switchboard's log level (default warn)
#
# Needs the PostgreSQL server (postgresql), wrk and python3-twilio; as root
# the database runs as the postgres user.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-8}
conns=${2:-64}
nreq=${3:-400000}
port=${SB_PORT:-8097}
pgcpu=${SB_PG_CPU:-0}
level=${SB_LOG_LEVEL:-warn}
token=test-auth-token
url=http://127.0.0.1:$port
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
sb_help "$0" "${1:-}"

sb_need_wrk "$port"
command -v sqlite3 >/dev/null || apt-get install -y -qq sqlite3 >/dev/null || die "sqlite3 is needed"

pgbin=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pgbin=$d; done
[ -n "$pgbin" ] || die "no PostgreSQL server found (install the postgresql package)"

sb_scratch store
# The PostgreSQL server's directory: short, since its socket's path must fit
# in 107 bytes. Stopped (it alone, by its data directory) and removed at exit.
pgdir=""
pg_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_stop() {
  [ -n "$pgdir" ] || return 0
  [ -f "$pgdir/data/postmaster.pid" ] && pg_owner "$pgbin/pg_ctl" -D "$pgdir/data" stop -m fast >/dev/null 2>&1
  rm -rf "$pgdir"
  pgdir=""
}
trap 'pg_stop; sb_scratch_cleanup' EXIT

# pg_start : a fresh server with fsync on (the default), listening only on a
# Unix socket, pinned with all its processes to $pgcpu; sets db to its URL.
pg_start() {
  pgdir=$(mktemp -d /tmp/sbpg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$pgdir"
  pg_owner "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres -E UTF8 --locale=C \
    >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
  if [ "$(id -u)" -eq 0 ]; then
    taskset -c "$pgcpu" runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" \
      -o "-k $pgdir -c listen_addresses='' -c max_connections=200" -l "$pgdir/log" -w start >/dev/null
  else
    taskset -c "$pgcpu" "$pgbin/pg_ctl" -D "$pgdir/data" \
      -o "-k $pgdir -c listen_addresses='' -c max_connections=200" -l "$pgdir/log" -w start >/dev/null
  fi || { cat "$pgdir/log" >&2; die "PostgreSQL did not start"; }
  db="postgresql:///postgres?host=$pgdir&user=postgres"
  [ "$(psql "$db" -Atc 'show fsync')" = on ] || die "PostgreSQL runs without fsync"
}

# --- build, and the requests -------------------------------------------
bin=$(sb_build "${SB_BUILD_DIR:-$repo/build-bench}" --buildtype=release) || exit 1
rev=$(sb_rev)
/usr/bin/python3 "$here/store_requests.py" status "$url" "$token" "$nreq" "$tmp/status.txt"
/usr/bin/python3 "$here/store_requests.py" incoming "$url" "$token" "$tmp/incoming.txt"

# Replays the requests of a file, each formatted once before the run (see
# "IVR flow step" in bench/README.md: building them during the run makes
# garbage whose collection pauses wrk). Past the last, it starts again; the
# script reports when a run got that far.
cat >"$tmp/replay.lua" <<'LUA'
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

# CPU time (user + system, ms) of switchboard, and of every PostgreSQL
# process when that backend runs: the store's cost is in both.
store_pids() {
  echo "$srv"
  if [ -n "$pgdir" ] && [ -f "$pgdir/data/postmaster.pid" ]; then
    local pm
    pm=$(head -n 1 "$pgdir/data/postmaster.pid")
    echo "$pm"
    pgrep -P "$pm" || true
  fi
}
cpu_ms() {
  local hz total=0 p t
  hz=$(getconf CLK_TCK)
  for p in $(store_pids); do
    t=$(awk -v hz="$hz" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$p/stat" 2>/dev/null) || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

# wrk_run NAME FILE : one measured run; appends "NAME req/s p50 p99 errors 2xx cpu_us" to $tmp/rows.
wrk_run() {
  local name=$1 file=$2 out c0 c1
  c0=$(cpu_ms)
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$tmp/replay.lua" "$url" -- "$file")
  c1=$(cpu_ms)
  echo "$out" >"$tmp/wrk.${name//\//.}"
  awk -v name="$name" -v ms=$((c1 - c0)) '
    function ms_of(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      if (v ~ /s$/) return v * 1000
      return v
    }
    /requests in/ { n = $1 }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms_of($2) }
    $1 == "99%" { p99 = ms_of($2) }
    /Non-2xx/ { bad += $NF }
    /Socket errors/ { gsub(/,/, ""); sockerr = $4 + $6 + $8 + $10 }
    END { printf "%s %s %s %s %d %d %.1f\n", name, rps, p50, p99, bad + sockerr, n - bad,
            (n > bad ? ms * 1000 / (n - bad) : 0) }
  ' <<<"$out" >>"$tmp/rows"
}

echo "switchboard $rev ($bin), log level $level"
echo "load: ${secs}s a test, ${conns} connections, $nreq distinct status callbacks;" \
  "switchboard and PostgreSQL on CPU 0 (PostgreSQL: CPU $pgcpu), wrk on CPU 1; $(date -u '+%Y-%m-%d %H:%M UTC')"
pressure() { awk '/^some/ { sub(/avg10=/, "", $2); sub(/avg60=/, "", $3); print "; cpu pressure avg10 " $2 "%, avg60 " $3 "%" }' /proc/pressure/cpu 2>/dev/null || true; }
echo "before: load average $(cut -d' ' -f1-3 /proc/loadavg)$(pressure)"
: >"$tmp/rows"
: >"$tmp/checks"
failed=0

for backend in sqlite postgresql; do
  if [ "$backend" = sqlite ]; then
    db=$tmp/store.db
  else
    pg_start
  fi
  export SWITCHBOARD_DB=$db
  sb_seed "$bin" 2>>"$tmp/seed.log" || exit 1
  PUBLIC_BASE_URL=$url TWILIO_AUTH_TOKEN=$token \
    taskset -c 0 "$bin" serve --db "$db" --listen "127.0.0.1:$port" --log-level "$level" \
    2>"$tmp/server.$backend.log" &
  srv=$!
  sb_wait_healthz "$url" "$srv" || { cat "$tmp/server.$backend.log" >&2; die "switchboard did not start on $backend"; }
  read -r sig path body <"$tmp/incoming.txt"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Twilio-Signature: $sig" --data "$body" "$url$path")
  [ "$code" = 200 ] || die "switchboard answered $code to the signed incoming webhook on $backend"

  wrk_run "$backend/status" "$tmp/status.txt"
  wrk_run "$backend/incoming" "$tmp/incoming.txt"
  # Stopped first, so that whatever it took is committed before the count.
  sb_stop "$srv"
  srv=""

  q="select count(*) from calls where status = 'completed' and call_sid like 'CA000%'"
  if [ "$backend" = sqlite ]; then
    stored=$(sqlite3 "$db" "$q")
  else
    stored=$(psql "$db" -Atc "$q")
  fi
  ok=$(awk -v n="$backend/status" '$1 == n { print $6 }' "$tmp/rows")
  # At least one answer per request of the file means it was replayed past its end.
  lo=$ok hi=$((ok + conns))
  [ "$lo" -le "$nreq" ] || lo=$nreq
  [ "$hi" -le "$nreq" ] || hi=$nreq
  if [ "$stored" -ge "$lo" ] && [ "$stored" -le "$hi" ]; then
    verdict=ok
  else
    verdict=FAILED
    failed=1
  fi
  wrapped=""
  [ "$ok" -le "$nreq" ] || wrapped=" (wrk answered more than the $nreq distinct requests: raise REQUESTS)"
  echo "$backend: status callbacks answered 2xx $ok, calls stored completed $stored," \
    "$((stored - ok)) committed while wrk stopped (at most $conns): $verdict$wrapped" >>"$tmp/checks"
  lines=$(wc -l <"$tmp/server.$backend.log")
  [ "$lines" -eq 0 ] || echo "$backend: switchboard wrote $lines log line(s) at $level, the last: $(tail -n 1 "$tmp/server.$backend.log")" >>"$tmp/checks"
  [ "$backend" = sqlite ] || pg_stop
done
echo "after: load average $(cut -d' ' -f1-3 /proc/loadavg)$(pressure)"

# --- the table ------------------------------------------------------------
echo
awk '
  function thousands(x,   s, r) {
    s = sprintf("%.0f", x); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
  }
  { split($1, k, "/"); b[NR] = k[1]; t[NR] = k[2]; rps[NR] = $2; p50[NR] = $3; p99[NR] = $4
    err[NR] = $5; cpu[NR] = $7; by[$1] = $2; cpuby[$1] = $7 }
  END {
    print "| backend | test | req/s | p50 ms | p99 ms | errors | CPU µs/req | ratio PostgreSQL / SQLite | ratio by CPU per request |"
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= NR; i++) {
      ratio = ""; rcpu = ""
      if (b[i] == "postgresql" && by["sqlite/" t[i]] > 0)
        ratio = sprintf("%.2fx", rps[i] / by["sqlite/" t[i]])
      if (b[i] == "postgresql" && cpu[i] > 0)
        rcpu = sprintf("%.2fx", cpuby["sqlite/" t[i]] / cpu[i])
      printf "| %s | %s | %s | %.2f | %.2f | %d | %.1f | %s | %s |\n", (b[i] == "sqlite" ? "SQLite" : "PostgreSQL"),
        (t[i] == "status" ? "status callback (stored)" : "incoming webhook"), thousands(rps[i]),
        p50[i], p99[i], err[i], cpu[i], ratio, rcpu
    }
    printf "\n| target | result | met |\n|---|---|---|\n"
    s = by["postgresql/status"]
    printf "| PostgreSQL: >= 10,000 status callbacks stored a second | %s | %s |\n", thousands(s), (s >= 10000 ? "yes" : "no")
    r = by["sqlite/incoming"] > 0 ? by["postgresql/incoming"] / by["sqlite/incoming"] : 0
    printf "| incoming webhook: PostgreSQL / SQLite >= 0.8 | %.2fx | %s |\n", r, (r >= 0.8 ? "yes" : "no")
  }
' "$tmp/rows"
echo
echo "CPU µs/req: switchboard's CPU time (all threads), plus every PostgreSQL process's on that backend,"
echo "per 2xx answer. It does not depend on what else ran on CPU 0, unlike req/s; the ratio by CPU is"
echo "SQLite's µs/req over PostgreSQL's, the req/s ratio two free cores (one each) would give."
echo
cat "$tmp/checks"
bad=$(awk '$5 > 0' "$tmp/rows")
[ -z "$bad" ] || { echo "bench: some requests were not answered 2xx (errors column)" >&2; failed=1; }
exit "$failed"
