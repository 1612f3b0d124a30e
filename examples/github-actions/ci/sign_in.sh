#!/usr/bin/env bash
# Sign in to the workspace at KILN_LOGIN_URL with the token in KILN_LOGIN_TOKEN (kiln login, token on stdin so it
# is in no process's arguments); prints user=NAME for a step's outputs.
set -euo pipefail
: "${KILN_LOGIN_URL:?set KILN_LOGIN_URL to the workspace server, http(s)://HOST:PORT (the KILN_URL secret)}"
: "${KILN_LOGIN_TOKEN:?set KILN_LOGIN_TOKEN to an API token (the KILN_TOKEN secret)}"
printf '%s\n' "$KILN_LOGIN_TOKEN" | kiln login "$KILN_LOGIN_URL" >&2
user="$(kiln user whoami -o json | "${KILN_PYTHON:-python3}" -c 'import json,sys; print(json.load(sys.stdin)["name"])')"
echo "user=$user"
