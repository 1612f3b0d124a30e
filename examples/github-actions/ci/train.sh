#!/usr/bin/env bash
# Train: submit ml/job.yml, follow its log, write its metrics to the step summary.
# Prints the job's name as its last line; exits non-zero unless the job completed.
# Usage: ci/train.sh [--set inputs.C=0.5 ...]   (GITHUB_STEP_SUMMARY: where the summary goes, if set)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${KILN_PYTHON:-python3}"

job="$(kiln job create -f "$here/../ml/job.yml" "$@" -o json | "$python" -c 'import json,sys; print(json.load(sys.stdin)["name"])')"
echo "submitted job $job" >&2
kiln job stream -n "$job" >&2 || true  # the log; the job's status below decides
shown="$(kiln job show -n "$job" -o json)"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '%s' "$shown" | "$python" "$here/job_summary.py" >>"$GITHUB_STEP_SUMMARY"
fi
status="$(printf '%s' "$shown" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
if [ "$status" != "completed" ]; then
    echo "error: job $job $status (kiln job logs -n $job)" >&2
    exit 1
fi
echo "$job"
