#!/usr/bin/env bash
# Installs kiln with its test extras, then runs the whole test suite inside a network
# namespace that has loopback only (DESIGN.md section 8): nothing a test starts can leave
# the machine. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
quoted=$(printf ' %q' "$@")
run_tests="ip link set lo up && exec .venv/bin/python -m pytest${quoted}"
if unshare -n true 2>/dev/null; then
    exec unshare -n sh -c "$run_tests"
elif unshare -rn true 2>/dev/null; then
    exec unshare -rn sh -c "$run_tests"
else
    echo "warning: cannot create a loopback-only network namespace here; running the tests without one" >&2
    exec .venv/bin/python -m pytest "$@"
fi
