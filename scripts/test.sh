#!/usr/bin/env bash
# Installs kiln with its test extras, then runs the test suite in two steps (DESIGN.md
# section 8): everything but the `registry` tests inside a network namespace that has
# loopback only (nothing a test starts can leave the machine), then the few `registry`
# tests (real environment builds that download packages; they never start Ray) outside it.
# Both results count; pytest's exit code 5 (no tests collected) is fine for either step.
# Extra arguments go to pytest in both steps.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test || exit $?
# The PostgreSQL tests start their own throw-away cluster from the Debian package's binaries
# (tests/postgres_server.py); install them if missing, without starting the packaged cluster.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing the Debian 'postgresql' package for the PostgreSQL tests" >&2
    policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e "$policy" ]; then  # no service may start during the install
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2 \
        || echo "warning: could not install postgresql; the PostgreSQL tests will fail and say so" >&2
    [ -n "$made_policy" ] && rm -f "$policy"
fi
quoted=$(printf ' %q' "$@")
run_offline="ip link set lo up && exec .venv/bin/python -m pytest -m 'not registry'${quoted}"
if unshare -n true 2>/dev/null; then
    unshare -n sh -c "$run_offline"
elif unshare -rn true 2>/dev/null; then
    unshare -rn sh -c "$run_offline"
else
    echo "warning: cannot create a loopback-only network namespace here; running the tests without one" >&2
    .venv/bin/python -m pytest -m "not registry" "$@"
fi
offline=$?
.venv/bin/python -m pytest -m registry "$@"
registry=$?
for status in "$offline" "$registry"; do
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
        exit "$status"
    fi
done
if [ "$offline" -eq 5 ] && [ "$registry" -eq 5 ]; then
    exit 5
fi
exit 0
