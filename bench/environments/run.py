"""Environment cache: a cold build of a small job environment vs a cache hit of the same spec.

The environment is what a job gets for ``pip: [six==1.16.0]``: six plus the MLflow client
kiln adds (mlflow-skinny, ~40 packages). Each run starts from an empty kiln venv cache (a
fresh folder), builds (cold), then asks for the same spec again (hit). uv's own download
cache is warm by default (one unmeasured warm-up build first), so "cold" is the build
itself, not the network; ``--cold-uv-cache`` gives uv an empty cache too (downloads
everything each run). Uses this machine's pip configuration, so it needs the registry.

    .venv/bin/python bench/environments/run.py [--runs 5] [--cold-uv-cache]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from uv import find_uv_bin

from kiln.environments.build_spec import BuildSpec, with_mlflow
from kiln.environments.builder import EnvironmentCache
from kiln.environments.interpreters import InterpreterFinder, server_python_version
from kiln.environments.pip_config import read_index_settings

REQUIREMENTS = ["six==1.16.0"]


def one_run(spec: BuildSpec, root: Path, environ: dict[str, str]) -> tuple[float, float]:
    cache = EnvironmentCache(root, find_uv_bin(), environ)
    started = time.perf_counter()
    cache.ensure(spec, lambda _line: None)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    cache.ensure(spec, lambda _line: None)
    return cold, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-uv-cache", action="store_true", help="an empty uv cache for every run")
    args = parser.parse_args()

    uv = find_uv_bin()
    python = InterpreterFinder(uv, dict(os.environ)).find(server_python_version())
    requirements, _ = with_mlflow(list(REQUIREMENTS))
    spec = BuildSpec(python.version, python.executable, tuple(requirements), read_index_settings(sys.executable))
    colds, hits = [], []
    with tempfile.TemporaryDirectory(prefix="kiln-bench-envs-") as scratch:
        environ = dict(os.environ)
        if not args.cold_uv_cache:
            one_run(spec, Path(scratch) / "warm-up", environ)  # fills uv's download cache; not counted
        for index in range(args.runs):
            if args.cold_uv_cache:
                environ["UV_CACHE_DIR"] = str(Path(scratch) / f"uv-cache-{index}")
            cold, hit = one_run(spec, Path(scratch) / f"run-{index}", environ)
            colds.append(cold)
            hits.append(hit)
            print(f"run {index + 1}: cold build {cold:7.3f} s   cache hit {hit * 1000:7.2f} ms", flush=True)
    cold, hit = statistics.median(colds), statistics.median(hits)
    uv_cache = "empty (downloads)" if args.cold_uv_cache else "warm"
    print(f"\nenvironment: {', '.join(requirements)} (python {python.version}); uv's download cache {uv_cache}")
    print(
        f"median of {args.runs}: cold build {cold:.3f} s, cache hit {hit * 1000:.2f} ms; hit is {cold / hit:,.0f}x faster"
    )


if __name__ == "__main__":
    main()
