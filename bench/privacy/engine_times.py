"""kiln privacy's engine on 10,000 generated rows: a DP query's latency (the engine warm, as the server keeps it)
and each synthesizer's run time (fit + sample 10,000 rows). Figures for docs/privacy.md, not a pass/fail test.

    PYTHONPATH=src python bench/privacy/engine_times.py [--engine PATH-TO-ENGINE-PYTHON]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import tempfile
import time
from pathlib import Path

from kiln.privacy.engine import PrivacyEngine, engine_python

METADATA = {
    "max_ids": 1,
    "pid": {"type": "int", "private_id": True},
    "sex": {"type": "string"},
    "age": {"type": "int", "lower": 18, "upper": 90},
}
QUERIES = (
    "SELECT COUNT(*) AS n FROM patients",
    "SELECT sex, COUNT(*) AS n, AVG(age) AS mean_age FROM patients GROUP BY sex",
)
ROWS = 10_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="", help="the engine's python (default: as the server finds it)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    engine = PrivacyEngine(engine_python(args.engine))
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "patients.csv"
        chance = random.Random(1)
        with table.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["pid", "sex", "age"])
            writer.writerows((pid, chance.choice("FM"), chance.randint(18, 90)) for pid in range(ROWS))
        started = time.perf_counter()
        engine.ask({"op": "ping"})
        print(f"engine start: {time.perf_counter() - started:.2f} s")
        for sql in QUERIES:
            request = {"op": "query", "csv": str(table), "table": "patients", "metadata": METADATA, "sql": sql,
                       "epsilon": 0.5, "delta": 1e-7}  # fmt: skip
            times = []
            for _ in range(args.repeats + 1):
                started = time.perf_counter()
                engine.ask(request)
                times.append(time.perf_counter() - started)
            print(
                f"query {sql!r}: first {times[0]:.3f} s, median of {args.repeats} more {statistics.median(times[1:]):.3f} s"
            )
        for synthesizer in ("mwem", "mst", "aim"):
            started = time.perf_counter()
            engine.ask({"op": "synthesize", "csv": str(table), "metadata": METADATA, "synthesizer": synthesizer,
                        "epsilon": 1.0, "delta": 1e-6, "rows": ROWS, "out": str(Path(folder) / "synthetic.csv")})  # fmt: skip
            print(
                f"synthesize {synthesizer} (epsilon 1, {ROWS} rows in and out): {time.perf_counter() - started:.1f} s"
            )
    engine.close()


if __name__ == "__main__":
    main()
