#!/usr/bin/env bash
# Installs kiln, then trains the iris example as a tracked job on the embedded default
# workspace (KILN_HOME, ~/.kiln by default), whose server starts in the background.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh sklearn
export PATH="$PWD/.venv/bin:$PATH"
kiln job create -f examples/sklearn-iris/job.yml --stream
echo
kiln job list --limit 5
echo
kiln server status
