#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store's tests on that backend.
#   scripts/pg-test-server.sh start DIR   creates DIR, starts a server listening only on a
#                                         Unix socket in DIR, prints its libpq URL
#                                         (for SB_TEST_POSTGRES)
#   scripts/pg-test-server.sh stop DIR    stops it and removes DIR
#   scripts/pg-test-server.sh down DIR    stops it and keeps its data (a database outage)
#   scripts/pg-test-server.sh up DIR      starts it again after down
# The server trusts every local connection and does not fsync: tests only. Keep DIR
# short: the socket's path (DIR/.s.PGSQL.5432) must fit in 107 bytes.
# PostgreSQL refuses to run as root; as root the server runs as the postgres user.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2

# pg_config names the client's directory, which holds the server only on some systems.
bindir=""
if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
  bindir=$(pg_config --bindir)
elif [ -x /usr/lib/postgresql/15/bin/initdb ]; then
  bindir=/usr/lib/postgresql/15/bin
else
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && bindir=$d
  done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "error: no PostgreSQL server found (install the postgresql package)" >&2
  exit 1
fi

# Runs a server program as the user that owns the data.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# serve DIR: starts the server of DIR's data.
serve() {
  as_owner "$bindir/pg_ctl" -D "$1/data" \
    -o "-k $1 -c listen_addresses='' -c fsync=off -c max_connections=200" \
    -l "$1/log" -w start >/dev/null || {
    cat "$1/log" >&2
    exit 1
  }
}

case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 --locale=C \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  serve "$dir"
  echo "postgresql:///postgres?host=$dir&user=postgres"
  ;;
down)
  as_owner "$bindir/pg_ctl" -D "$dir/data" stop -m fast >/dev/null
  ;;
up)
  serve "$(cd "$dir" && pwd)"
  ;;
stop)
  [ -d "$dir" ] || exit 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" stop -m fast >/dev/null
  fi
  rm -rf "$dir"
  ;;
*)
  usage
  ;;
esac
