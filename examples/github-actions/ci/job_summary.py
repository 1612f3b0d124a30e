"""Markdown for a GitHub step summary from ``kiln job show -o json`` on stdin: the job, its status and metrics."""

import json
import sys

job = json.load(sys.stdin)
lines = [
    f"### kiln job `{job['name']}`: {job['status']}",
    "",
    f"{job.get('display_name') or ''} (experiment `{job.get('experiment_name') or '-'}`)",
    "",
    "| metric | value |",
    "|---|---|",
]
lines += [f"| {name} | {value:.4g} |" for name, value in sorted((job.get("metrics") or {}).items())]
if not job.get("metrics"):
    lines.append("| (none logged) | |")
print("\n".join(lines))
