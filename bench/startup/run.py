"""All of issue 13's start-up figures in one run: server start to ready (``server.py``), the CLI's answers
(``cli.py``: ``--help``, ``version``, ``job list`` of 1,000) and CLI submit → first line of user code
(``submit.py``), one after another (never at once: each times processes on an otherwise idle machine), each
printing its figures beside its baselines; then every PASS/FAIL line again, together.

    .venv/bin/python bench/startup/run.py [--quick]

Run it inside a loopback-only namespace: ``unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/startup/run.py'``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = {  # script: its arguments for a full run, and for --quick
    "server.py": (["--runs", "3"], ["--runs", "1"]),
    "cli.py": (["--runs", "15"], ["--runs", "5"]),
    "submit.py": (["--runs", "10"], ["--runs", "4"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs of each (a check that it works)")
    args = parser.parse_args()
    verdicts: list[str] = []
    failed = False
    for script, (full, quick) in PARTS.items():
        print(f"\n=== bench/startup/{script}", flush=True)
        result = subprocess.run(
            [sys.executable, str(HERE / script), *(quick if args.quick else full)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        print(result.stdout, end="", flush=True)
        verdicts += [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
        failed |= result.returncode != 0
    print("\n=== goals (issue 13)")
    print("\n".join(verdicts))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
