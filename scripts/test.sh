#!/usr/bin/env bash
# Installs kiln with its test extras, then runs the test suite in two steps (DESIGN.md
# section 8): everything but the `registry` tests inside a network namespace that has
# loopback only (nothing a test starts can leave the machine), then the few `registry`
# tests (real environment builds that download packages; they never start Ray) outside it.
# Both results count; pytest's exit code 5 (no tests collected) is fine for either step.
#
# The first step runs on KILN_TEST_WORKERS pytest-xdist workers (default 2, CI's cores; 0 runs
# serially), prints the slowest tests (--durations) and the time of each module against its
# budget in tests/budgets.toml (a module over budget fails the run). docs/testing.md has the rest.
#
#   scripts/test.sh [--fast] [--no-install] [PYTEST ARGS...]
#     --fast        the fast lane: unit and smoke tests only (-m "not slow or smoke"), no registry step
#     --no-install  run with the interpreter as it is (KILN_TEST_PYTHON, default .venv/bin/python)
# Extra arguments go to pytest in both steps.
set -uo pipefail
cd "$(dirname "$0")/.."
fast="" install=1
while [ $# -gt 0 ]; do
    case "$1" in
        --fast) fast=1 ;;
        --no-install) install="" ;;
        *) break ;;
    esac
    shift
done
python="${KILN_TEST_PYTHON:-.venv/bin/python}"
if [ -n "$install" ]; then
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
    # Local jobs run in a bubblewrap sandbox (kiln.runners.local.sandbox); tests/security/test_job_sandbox.py
    # proves it, so install it if missing (without it, jobs run unisolated and those tests fail and say so).
    if ! command -v bwrap >/dev/null 2>&1; then
        echo "installing the Debian 'bubblewrap' package for the job sandbox" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >&2 \
            || echo "warning: could not install bubblewrap; jobs will run unisolated and the sandbox tests fail" >&2
    fi
    # kiln studio's browser tests (tests/integration/studio) drive Debian's Chromium with Playwright
    if ! command -v chromium >/dev/null 2>&1; then
        echo "installing the Debian 'chromium' package for kiln studio's browser tests" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 \
            || echo "warning: could not install chromium; the studio's browser tests fail and say so" >&2
    fi
fi
workers="${KILN_TEST_WORKERS:-2}"
offline_args=(--durations=40)
if [ "$workers" != 0 ]; then
    # loadfile: a module stays on one worker (its module server starts once); tests/lanes.py orders the
    # modules longest first and --no-loadscope-reorder keeps that order
    offline_args+=(-n "$workers" --dist loadfile --no-loadscope-reorder)
fi
if [ -n "$fast" ]; then
    offline_args+=(-m "(not slow or smoke) and not registry")
else
    offline_args+=(-m "not registry")
fi
quoted=$(printf ' %q' "$python" -m pytest "${offline_args[@]}" "$@")
run_offline="ip link set lo up && exec${quoted}"
if unshare -n true 2>/dev/null; then
    unshare -n sh -c "$run_offline"
elif unshare -rn true 2>/dev/null; then
    unshare -rn sh -c "$run_offline"
else
    echo "warning: cannot create a loopback-only network namespace here; running the tests without one" >&2
    "$python" -m pytest "${offline_args[@]}" "$@"
fi
offline=$?
registry=5
if [ -z "$fast" ]; then
    "$python" -m pytest -m registry --durations=10 "$@"
    registry=$?
fi
for status in "$offline" "$registry"; do
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
        exit "$status"
    fi
done
if [ "$offline" -eq 5 ] && [ "$registry" -eq 5 ]; then
    exit 5
fi
exit 0
