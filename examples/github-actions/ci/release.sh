#!/usr/bin/env bash
# Release (on main): train, register the model, gate it against @champion, promote it, roll it out.
#   MODEL      the registered model's name (default iris)
#   METRICS    the gate's metrics, space-separated NAME[:max|min[:MIN_DELTA]] (default test_accuracy)
#   MIN_DELTA  how much better the candidate must be (default 0)
#   ENDPOINT   an online endpoint to roll the new version out to (unset: no rollout)
#   STEPS, MAX_ERROR_RATE, MAX_P99_MS, MIRROR, WINDOW: the rollout's (defaults 10,50,100 / 0.01 / - / 0 / 30s)
# Exit codes: 0 released (or the first version became champion), 1 the gate failed (nothing promoted),
# 9 the rollout rolled back (the version stays registered, not champion), others: kiln's errors.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${KILN_PYTHON:-python3}"
model="${MODEL:-iris}"
field() { "$python" -c "import json,sys; print(json.load(sys.stdin)$1)"; }

job="$("$here/train.sh" "$@" | tail -n 1)"
candidate="$(kiln model create --name "$model" --path "azureml://jobs/$job/outputs/model" -o json | field '["version"]')"
echo "registered $model version $candidate from job $job" >&2

champion="$(kiln model show -n "$model" -o json | field '["aliases"].get("champion", "")')"
if [ -n "$champion" ]; then
    metric_args=()
    for metric in ${METRICS:-test_accuracy}; do metric_args+=(--metric "$metric"); done
    # exit 1 = the candidate is not better: stop here, nothing is promoted
    kiln model compare -n "$model" --candidate "$candidate" --baseline @champion "${metric_args[@]}" \
        --min-delta "${MIN_DELTA:-0}" | tee -a "${GITHUB_STEP_SUMMARY:-/dev/null}"
else
    echo "no champion yet: version $candidate becomes the first" >&2
fi

if [ -n "${ENDPOINT:-}" ]; then
    deployment="v$candidate"
    printf 'name: %s\nendpoint_name: %s\nmodel: kiln:%s:%s\ninstance_count: 1\n' \
        "$deployment" "$ENDPOINT" "$model" "$candidate" >"${RUNNER_TEMP:-/tmp}/deployment-$deployment.yml"
    kiln online-deployment create -f "${RUNNER_TEMP:-/tmp}/deployment-$deployment.yml" >&2
    p99=()
    if [ -n "${MAX_P99_MS:-}" ]; then p99=(--max-p99-ms "$MAX_P99_MS"); fi
    # exit 9 = rolled back: the traffic is where it was; the new deployment's log is kept here, then it goes
    set +e
    kiln online-endpoint rollout -n "$ENDPOINT" --deployment "$deployment" --steps "${STEPS:-10,50,100}" \
        --max-error-rate "${MAX_ERROR_RATE:-0.01}" "${p99[@]}" --mirror "${MIRROR:-0}" --window "${WINDOW:-30s}" |
        tee -a "${GITHUB_STEP_SUMMARY:-/dev/null}"
    code="${PIPESTATUS[0]}"
    set -e
    if [ "$code" != 0 ]; then
        kiln online-deployment get-logs -e "$ENDPOINT" -n "$deployment" >&2 || true
        kiln online-deployment delete -e "$ENDPOINT" -n "$deployment" >&2 || true
        exit "$code"
    fi
    # the deployments it replaced take no traffic now: remove them
    idle="$(kiln online-endpoint show -n "$ENDPOINT" -o json | "$python" -c \
        'import json,sys; print(" ".join(d for d, share in json.load(sys.stdin)["traffic"].items() if share == 0))')"
    for old in $idle; do
        kiln online-deployment delete -e "$ENDPOINT" -n "$old" >&2
    done
fi
kiln model alias set "$model" champion --version "$candidate"
echo "released $model version $candidate"
