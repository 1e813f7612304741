# shellcheck shell=bash disable=SC2154  # repo and tmp come from the caller
# Shared by the bench/ scripts; sourced, not run.
#
# Expects: repo (the repository root) and tmp (a scratch directory the
# caller removes). Honours SB_REV: when set, the binary is built from that
# commit (exported with `git archive`, which leaves the repository as it
# is) instead of the working tree, so that other people's unfinished edits
# do not break or skew a run.

# sb_build BUILDDIR MESON-OPTIONS... : prints the path of the built binary.
sb_build() {
  local builddir=$1 src=$repo
  shift
  # A fresh machine has no meson or libraries yet: the same install as `make run`.
  "$repo/scripts/deps.sh" >&2 || return 1
  if [ -n "${SB_REV:-}" ]; then
    src=$tmp/src
    builddir=$tmp/build
    mkdir -p "$src"
    git -C "$repo" archive "$SB_REV" | tar -x -C "$src" ||
      { echo "bench: cannot export $SB_REV" >&2; return 1; }
  fi
  if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" "$src" "$@" >"$tmp/build.log" 2>&1 ||
      { tail -n 30 "$tmp/build.log" >&2; echo "bench: meson setup failed" >&2; return 1; }
  fi
  ninja -C "$builddir" switchboard >"$tmp/build.log" 2>&1 ||
    { tail -n 30 "$tmp/build.log" >&2
      echo "bench: the build failed (a half-edited tree? try SB_REV=HEAD)" >&2; return 1; }
  echo "$builddir/switchboard"
}

# sb_seed BIN : a tenant and the pro number the peers are loaded with.
sb_seed() {
  local bin=$1
  if ! "$bin" tenants add bench --lang en-US >/dev/null 2>>"$tmp/seed.log" ||
    ! "$bin" numbers add +15005550006 --tenant bench --plan pro --agent receptionist \
      >/dev/null 2>>"$tmp/seed.log"; then
    cat "$tmp/seed.log" >&2
    echo "bench: cannot seed the store" >&2
    return 1
  fi
}

# sb_wait_healthz URL PID : waits up to 5 s for the server to answer.
sb_wait_healthz() {
  local url=$1 pid=$2
  for _ in $(seq 50); do
    curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  curl -fsS -o /dev/null "$url/healthz"
}

# sb_port_free PORT : true when nothing listens on 127.0.0.1:PORT.
sb_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# sb_stop PID : stops a process this script started (by its PID; "" does nothing).
sb_stop() {
  [ -n "${1:-}" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# sb_scratch NAME : sets tmp to a fresh scratch directory and srv and llm to "";
# at exit the server and the sim llm whose PIDs the caller put in srv and llm
# are stopped and tmp removed.
sb_scratch() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-$1.XXXXXX")
  srv=""
  llm=""
  trap sb_scratch_cleanup EXIT
  trap 'exit 130' INT TERM
}

sb_scratch_cleanup() {
  # Only what this script started, by PID.
  sb_stop "${srv:-}"
  sb_stop "${llm:-}"
  rm -rf "$tmp"
}

# sb_rev : the revision a run measures, marked when the tree has edits.
sb_rev() {
  local rev=${SB_REV:-$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')}
  [ -n "${SB_REV:-}" ] ||
    [ -z "$(git --no-optional-locks -C "$repo" status --porcelain -- src meson.build 2>/dev/null)" ] ||
    rev="$rev + uncommitted src changes"
  echo "$rev"
}

# sb_menu_flow FILE : writes the small IVR flow the flow benchmarks call.
sb_menu_flow() {
  cat >"$1" <<'JSON'
{"name": "menu", "start": "welcome", "nodes": {
  "welcome": {"type": "say", "text": "Welcome.", "next": "menu"},
  "menu": {"type": "menu", "prompt": "For sales press 1. For support press 2.",
           "options": [{"digit": "1", "next": "bye"}, {"digit": "2", "next": "bye"},
                       {"digit": "9", "next": "menu"}],
           "fallback": "bye"},
  "bye": {"type": "hangup", "text": "Goodbye."}}}
JSON
}

# sb_help SCRIPT [ARG] : with -h or --help, prints the script's header comment and exits.
sb_help() {
  case "${2:-}" in -h | --help)
    sed -n '2,/^set -euo/p' "$1" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  esac
}

die() { echo "bench: $*" >&2; exit 1; }

# sb_need_wrk PORT : what a wrk run against a pinned server needs (2 CPUs, taskset, wrk,
# python3-twilio for the signed requests, a free PORT), installed as root when missing.
sb_need_wrk() {
  command -v taskset >/dev/null || die "taskset (util-linux) is needed"
  [ "$(nproc --all)" -ge 2 ] || die "needs 2 CPUs: the server on CPU 0, wrk on CPU 1"
  sb_port_free "$1" || die "port $1 is already in use (set SB_PORT)"
  command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null || die "wrk is needed"
  /usr/bin/python3 -c 'import twilio' 2>/dev/null ||
    apt-get install -y -qq python3-twilio >/dev/null || die "python3-twilio is needed"
}
