#!/usr/bin/env bash
# Makes sure the local settings file (.env by default, or $1) exists, holds a
# TWILIO_AUTH_TOKEN, and is readable by its owner only. The token is printed
# once, when it is generated; an existing file keeps its contents and only
# has its mode tightened to 0600.
set -euo pipefail
file=${1:-.env}

if [ ! -e "$file" ]; then
  token=$(openssl rand -hex 16)
  # umask 077 so the file is never readable by others, not even briefly.
  (umask 077 && printf 'TWILIO_AUTH_TOKEN=%s\n' "$token" > "$file")
  echo "generated a local auth token in $file: TWILIO_AUTH_TOKEN=$token" >&2
elif [ -n "$(find "$file" -maxdepth 0 -perm /077)" ]; then
  chmod 600 "$file"
  echo "$file was readable by others: its mode is now 0600" >&2
fi
