#!/usr/bin/env bash
# `make run`: builds switchboard and serves on its embedded defaults: a local
# SQLite file, a demo tenant with a pro and a starter number, and an auth
# token from .env (generated and saved there on first run, readable by its
# owner only; printed only then) so that local test calls can be signed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build switchboard >/dev/null

scripts/env.sh .env
set -a; . ./.env; set +a
export SWITCHBOARD_LISTEN=${SWITCHBOARD_LISTEN:-127.0.0.1:8080}
export SWITCHBOARD_DB=${SWITCHBOARD_DB:-./switchboard.db}
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://$SWITCHBOARD_LISTEN}

sb=build/switchboard
if ! $sb tenants list --json 2>/dev/null | grep -q '"name": "demo"'; then
  $sb tenants add demo --lang en-US --transfer +15557654321 \
      --greeting "en-US=Thanks for calling the demo line. How can I help you?" \
      --greeting "es-MX=Gracias por llamar a la línea de demostración. ¿En qué le puedo ayudar?"
  $sb numbers add +15005550006 --tenant demo --plan pro --agent receptionist
  $sb numbers add +15005550001 --tenant demo --plan starter --agent receptionist
fi
echo "the auth token is TWILIO_AUTH_TOKEN in .env; use it to sign local test calls" >&2
$sb urls
exec $sb serve
