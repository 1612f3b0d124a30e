#!/usr/bin/env bash
# Installs kiln, then trains the iris example as a tracked job on the embedded default
# workspace (KILN_HOME, ~/.kiln by default), whose server starts in the background.
# Each step says what it does; the install (minutes the first time) says it is still going.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }

step "1/4 installing kiln with scikit-learn into .venv (the first time takes a few minutes)"
scripts/install.sh sklearn &
installer=$!
started=$SECONDS
while kill -0 "$installer" 2>/dev/null; do
    sleep 1
    elapsed=$((SECONDS - started))
    if [ $((elapsed % 10)) -eq 0 ] && kill -0 "$installer" 2>/dev/null; then
        echo "    … still installing (${elapsed} s)" >&2
    fi
done
wait "$installer"
echo "    installed in $((SECONDS - started)) s" >&2
export PATH="$PWD/.venv/bin:$PATH"

step "2/4 training examples/sklearn-iris as a tracked job (the workspace server starts first if it is not running)"
kiln job create -f examples/sklearn-iris/job.yml --stream

step "3/4 the newest jobs"
kiln job list --limit 5

step "4/4 the workspace server"
kiln server status
