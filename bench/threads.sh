#!/usr/bin/env bash
# serve --threads: the signed incoming webhook (the request of run.sh and the
# shared peers) with one event loop and with two, side by side in one run, and
# what more cores would give. See "Event loops (--threads)" in bench/README.md.
#
#   bench/threads.sh [SECONDS] [CONNECTIONS]      default 8 s, 64
#
# Runs, each on a fresh SQLite store seeded like run.sh's:
#   1core   --threads 1 pinned to CPU 0, wrk (one thread) on CPU 1: the cost of a request on
#           one core, by thread (the loops, the writer, the rest), read from
#           /proc/PID/task/*/stat (the threads are named: sb-loop-N, sb-writer)
#   t1      --threads 1 on CPUs 0-1, wrk on the same two CPUs
#   t2      --threads 2 on CPUs 0-1, wrk on the same two CPUs
# and prints a Markdown table (req/s, p50, p99, CPU per request, t2 / t1), then
# a projection for 8 and 32 cores from the 1core costs: the loops scale with
# the cores, the writer is one thread whatever the count, so
#   req/s(N) = min(N * 1e6 / (loop + writer + rest us), 1e6 / writer us)
# (wrk on other machines; the store's fsyncs not the limit).
#
# environment:
#   SB_PORT       switchboard's port (default 8098)
#   SB_BUILD_DIR  release build directory (default build-bench/)
#   SB_REV        build this commit (git archive) instead of the working tree
#
# Needs wrk and python3-twilio (installed as root when missing).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-8}
conns=${2:-64}
port=${SB_PORT:-8098}
token=test-auth-token
url=http://127.0.0.1:$port
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
sb_help "$0" "${1:-}"

sb_need_wrk "$port"

sb_scratch threads
bin=$(sb_build "${SB_BUILD_DIR:-$repo/build-bench}" --buildtype=release) || exit 1
rev=$(sb_rev)
/usr/bin/python3 "$here/store_requests.py" incoming "$url" "$token" "$tmp/incoming.txt"
read -r sig path body <"$tmp/incoming.txt"
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "$body"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Twilio-Signature"] = "$sig"
LUA

# thread_ms PID : "loops writer rest" CPU milliseconds (user + system) by thread.
thread_ms() {
  local hz
  hz=$(getconf CLK_TCK)
  for t in /proc/"$1"/task/*; do
    awk -v hz="$hz" -v main="$(basename "$t")" -v pid="$1" '{
      comm = $0; sub(/^[^(]*\(/, "", comm); sub(/\).*$/, "", comm)
      rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
      kind = (comm ~ /^sb-loop-/ || main == pid) ? "loop" : (comm == "sb-writer" ? "writer" : "rest")
      print kind, int((f[12] + f[13]) * 1000 / hz) }' "$t/stat" 2>/dev/null || true
  done | awk '{ s[$1] += $2 } END { printf "%d %d %d\n", s["loop"], s["writer"], s["rest"] }'
}

# run NAME SERVER_CPUS WRK_CPUS THREADS : one measured run; appends a row to $tmp/rows.
run() {
  local name=$1 scpus=$2 wcpus=$3 threads=$4 db=$tmp/$1.db wt
  wt=$(tr ',' '\n' <<<"$wcpus" | wc -l) # one wrk thread a CPU it has
  SWITCHBOARD_DB=$db sb_seed "$bin"
  SWITCHBOARD_DB=$db TWILIO_AUTH_TOKEN=$token PUBLIC_BASE_URL=$url \
    taskset -c "$scpus" "$bin" serve --listen "127.0.0.1:$port" --log-level warn \
    --threads "$threads" 2>"$tmp/$name.log" &
  srv=$!
  sb_wait_healthz "$url" "$srv" || die "switchboard did not start: $(cat "$tmp/$name.log")"
  # Warm up (the first connections, the page cache), then measure.
  taskset -c "$wcpus" wrk -t"$wt" -c"$conns" -d2s -s "$tmp/post.lua" "$url$path" >/dev/null
  local before after
  before=$(thread_ms "$srv")
  taskset -c "$wcpus" wrk -t"$wt" -c"$conns" -d"${secs}s" --latency -s "$tmp/post.lua" "$url$path" \
    >"$tmp/$name.wrk"
  after=$(thread_ms "$srv")
  sb_stop "$srv"
  srv=""
  awk -v name="$name" -v threads="$threads" -v scpus="$scpus" -v wcpus="$wcpus" \
    -v before="$before" -v after="$after" -v secs="$secs" '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /Non-2xx/ { bad += $NF }
    /Socket errors/ { gsub(/,/, ""); bad += $4 + $6 + $8 + $10 }
    END {
      split(before, b, " "); split(after, a, " ")
      n = rps * secs
      printf "%s %s %s %s %.0f %s %s %d %.2f %.2f %.2f\n", name, threads, scpus, wcpus, rps, p50, p99, bad,
        (a[1] - b[1]) * 1000 / n, (a[2] - b[2]) * 1000 / n, (a[3] - b[3]) * 1000 / n
    }' "$tmp/$name.wrk" >>"$tmp/rows"
}

: >"$tmp/rows"
run 1core 0 1 1
run t1 0,1 0,1 1
run t2 0,1 0,1 2

echo
echo "switchboard $rev; signed POST /voice/incoming (pro number), $conns connections, ${secs} s each"
echo
echo "| run | --threads | server CPUs | wrk CPUs | req/s | p50 | p99 | errors | loop µs/req | writer µs/req | other µs/req | vs t1 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
t1=$(awk '$1 == "t1" { print $5 }' "$tmp/rows")
awk -v t1="$t1" '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2fx |\n",
  $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $5 / t1 }' "$tmp/rows"
echo
awk '$1 == "t1" || $1 == "t2" {
  printf "%s: switchboard used %.2f of the 2 CPUs (%.0f req/s x %.2f µs), wrk and the kernel the rest\n",
    $1, $5 * ($9 + $10 + $11) / 1e6, $5, $9 + $10 + $11 }' "$tmp/rows"
echo
awk '$1 == "1core" {
  total = $9 + $10 + $11; writer = $10
  printf "Projection from the 1core costs (%.2f µs a request in all, %.2f µs of it the writer'"'"'s):\n", total, writer
  for (i = 1; i <= 2; i++) {
    n = (i == 1) ? 8 : 32
    cores = n * 1e6 / total; cap = (writer > 0) ? 1e6 / writer : 0
    best = (cap > 0 && cap < cores) ? cap : cores
    printf "- %d cores: about %.0f req/s (the loops alone: %.0f; the one writer thread caps at %.0f)\n",
      n, best, cores, cap
  }
}' "$tmp/rows"
