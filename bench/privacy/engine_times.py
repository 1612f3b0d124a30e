"""kiln privacy's engine on 10,000 generated rows: a DP query's latency (the engine warm, as the server keeps it)
and each synthesizer's run time (fit + sample 10,000 rows). Figures for docs/privacy.md, not a pass/fail test.

    PYTHONPATH=src python bench/privacy/engine_times.py [--engine PATH-TO-ENGINE-PYTHON]

``--baseline SCRIPT`` times the queries of another engine script too (an older ``engine_process.py``, e.g. from
``git show REV:src/kiln/privacy/engine_process.py``), alternated with this one's on the same rows, so both meet the
same load; ``--no-synthesis`` leaves the synthesizers out.
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
    parser.add_argument("--baseline", type=Path, help="another engine script, its queries timed alternately")
    parser.add_argument("--no-synthesis", action="store_true")
    args = parser.parse_args()
    engine = PrivacyEngine(engine_python(args.engine))
    engines = {"this": engine}
    if args.baseline:
        engines["baseline"] = PrivacyEngine(engine_python(args.engine), script=args.baseline)
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "patients.csv"
        chance = random.Random(1)
        with table.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["pid", "sex", "age"])
            writer.writerows((pid, chance.choice("FM"), chance.randint(18, 90)) for pid in range(ROWS))
        for label, each in engines.items():
            started = time.perf_counter()
            each.ask({"op": "ping"})
            print(f"engine start ({label}): {time.perf_counter() - started:.2f} s")
        for sql in QUERIES:
            request = {"op": "query", "csv": str(table), "table": "patients", "metadata": METADATA, "sql": sql,
                       "epsilon": 0.5, "delta": 1e-7}  # fmt: skip
            times: dict[str, list[float]] = {label: [] for label in engines}
            for _ in range(args.repeats + 1):
                for label, each in engines.items():
                    started = time.perf_counter()
                    each.ask(request)
                    times[label].append(time.perf_counter() - started)
            for label, taken in times.items():
                print(
                    f"query {sql!r} ({label}): first {taken[0]:.3f} s, median of {args.repeats} more "
                    f"{statistics.median(taken[1:]):.3f} s, best {min(taken[1:]):.3f} s"
                )
        for synthesizer in () if args.no_synthesis else ("mwem", "mst", "aim"):
            started = time.perf_counter()
            engine.ask({"op": "synthesize", "csv": str(table), "metadata": METADATA, "synthesizer": synthesizer,
                        "epsilon": 1.0, "delta": 1e-6, "rows": ROWS, "out": str(Path(folder) / "synthetic.csv")})  # fmt: skip
            print(
                f"synthesize {synthesizer} (epsilon 1, {ROWS} rows in and out): {time.perf_counter() - started:.1f} s"
            )
    for each in engines.values():
        each.close()


if __name__ == "__main__":
    main()
