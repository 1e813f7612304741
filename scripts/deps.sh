#!/usr/bin/env bash
# Installs the Debian packages switchboard needs to build, run and test.
# As root it runs apt-get; otherwise it prints the exact command to run.
#   scripts/deps.sh          build + run
#   scripts/deps.sh --test   also the test tools (Criterion, clang, clang-format, python3-twilio,
#                            python3-jsonschema and python3-yaml (the OpenAPI checks),
#                            valgrind, nodejs and npm, nginx and systemd-analyze for the
#                            deployment files in deploy/, and a PostgreSQL server for the
#                            store's tests on that backend: scripts/pg-test-server.sh)
set -euo pipefail

run_pkgs=(gcc meson ninja-build pkg-config libwebsockets-dev libjansson-dev libsqlite3-dev
          libpq-dev libssl-dev openssl libcurl4-openssl-dev libxml2-dev libsoxr-dev
          libespeak-ng-dev espeak-ng-data tzdata libpocketsphinx-dev pocketsphinx-en-us
          flite1-dev)
test_pkgs=(libcriterion-dev python3 python3-twilio python3-websocket clang libclang-rt-14-dev
           clang-format tmux espeak-ng valgrind python3-jsonschema python3-yaml nginx systemd
           postgresql flite)

pkgs=("${run_pkgs[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the openai client oracle (tests/oracle/node); a node from elsewhere
# (nodesource bundles npm) counts, so these are checked as commands, not packages.
if [ "${1:-}" = "--test" ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages; install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
