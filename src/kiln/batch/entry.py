"""The process of a ``batch_scoring`` job: ``python -m kiln.batch.entry --model M --input I --output O …``.

On a Ray cluster the input is ``--input-manifest .kiln_inputs/data.json`` instead (``kiln.jobs.input_manifest``):
its files' names, sizes and signed URLs, which the actors stream from; the files are never copied to the job.
It lists the input's files, cuts them into mini-batches, scores them (local compute: :mod:`kiln.batch.pool`; a Ray
cluster: :mod:`kiln.batch.ray_engine`), joins the parts in order into ``O/predictions.csv`` (``append_row``) and
writes ``O/summary.json`` either way. Progress goes to the log (files and rows done / total) and to the job's MLflow
run (``rows_scored``, ``failed_mini_batches``, ``rows_per_second``). Exit status 1 when failures pass
``error_threshold``, 2 when nothing can be scored (no files, a scoring script without ``run``, ``init()`` raising)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kiln.batch.pool import InitFailed, MiniBatch, Outcome, WorkerPool, part_path
from kiln.batch.scorer import RemoteFile, ScorerConfig, ScoringScriptError, load_script

log = logging.getLogger("kiln.batch")
PROGRESS_SECONDS = 2.0
SKIPPED_NAMES = ("MLTable",)


def input_files(root: Path) -> list[Path]:
    """Every file under the input (a file: itself), in name order; hidden files and an MLTable file left out."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and scored(p.relative_to(root).parts))


def scored(parts: Sequence[str]) -> bool:
    """Whether a file of the input, by the parts of its path below the input, is scored: not hidden (nor in a hidden
    folder), not an MLTable file."""
    return not any(part.startswith(".") for part in parts) and parts[-1] not in SKIPPED_NAMES


def count_rows(file: Path) -> int | None:
    """The rows a data file holds, read cheaply (CSV: its lines less the header; Parquet: its metadata)."""
    suffix = file.suffix.lower()
    if suffix == ".csv":
        with file.open("rb") as handle:
            data = handle.read()
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        return max(lines - 1, 0)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(file).metadata.num_rows)
    return None


MANIFEST_FORMAT = "kiln-input-manifest/1"  # kiln.jobs.input_manifest writes it (this process imports no runtime)


class ManifestError(Exception):
    """The input manifest cannot be read."""


def manifest_files(path: Path) -> list[RemoteFile]:
    """The files an input manifest lists, in name order (hidden files and an MLTable file left out, as a folder's)."""
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ManifestError(f"{path} is not a kiln input manifest ({MANIFEST_FORMAT})")
        files = [RemoteFile(str(f["name"]), str(f["url"]), int(f["size"])) for f in manifest["files"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"the input manifest {path} cannot be read: {type(exc).__name__}: {exc}") from None
    return sorted((f for f in files if scored(f.name.split("/"))), key=lambda f: f.name)


def mini_batches(files: Sequence[Path | str], size: int) -> list[MiniBatch]:
    return [
        MiniBatch(i, [str(f) for f in files[start : start + size]])
        for i, start in enumerate(range(0, len(files), size))
    ]


class Progress:
    """Files and rows done out of the total, said in the log every few seconds and logged to MLflow."""

    def __init__(self, batches: list[MiniBatch], rows_of: dict[str, int | None]) -> None:
        self.batches = {b.index: b for b in batches}
        self.rows_of = rows_of
        self.total_files = sum(len(b.files) for b in batches)
        known = [n for n in rows_of.values() if n is not None]
        self.total_rows = sum(known) if len(known) == len(rows_of) else None
        self.began = time.monotonic()
        self.last = 0.0
        self.mlflow = _mlflow()

    def __call__(self, outcome: Outcome, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        files = sum(len(self.batches[i].files) for i in outcome.rows)
        rows = sum(outcome.rows.values())
        elapsed = max(now - self.began, 1e-9)
        total_rows = "?" if self.total_rows is None else str(self.total_rows)
        log.info(
            "progress: files %d/%d, rows %d/%s, mini-batches %d/%d, failed %d, %.0f rows/s",
            files, self.total_files, rows, total_rows, len(outcome.rows), len(self.batches), len(outcome.failed),
            rows / elapsed,
        )  # fmt: skip
        if self.mlflow is not None:
            metrics: dict[str, float] = {
                "rows_scored": rows,
                "files_scored": files,
                "failed_mini_batches": len(outcome.failed),
            }
            if final:
                metrics |= {"rows_per_second": rows / elapsed, "failed_files": outcome.failed_files}
            try:
                self.mlflow.log_metrics(metrics, step=int(elapsed))
            except Exception as exc:  # noqa: BLE001 - progress metrics never fail the scoring
                log.warning("could not log metrics to MLflow: %s", exc)


def _mlflow() -> Any:
    if not os.environ.get("MLFLOW_RUN_ID"):
        return None
    import mlflow

    return mlflow


def join_parts(parts: Path, outcome: Outcome, target: Path) -> int:
    """The parts of the scored mini-batches, in order, as one CSV (one header); the rows written."""
    import csv

    written, header = 0, None
    with target.open("w", newline="") as out:
        for index in sorted(outcome.rows):
            with part_path(parts, index).open(newline="") as part:
                reader = csv.reader(part)
                first = next(reader, None)
                if first is None:
                    continue
                if header is None:
                    header = first
                    csv.writer(out).writerow(header)
                elif first != header:
                    raise ValueError(f"mini-batch {index} answered columns {first}, the first answered {header}")
                rest = part.read()
                out.write(rest)
                written += outcome.rows[index]
    return written


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.logging_level.upper(), format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout
    )
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    config = ScorerConfig(
        model=args.model, input_root=args.input or "", scoring_script=args.scoring_script, code=os.getcwd()
    )
    try:
        if args.scoring_script:
            load_script(Path(config.code or ".") / args.scoring_script)  # no run(): refused before any worker starts
    except ScoringScriptError as exc:
        log.error("%s", exc)
        return 2
    remote: dict[str, RemoteFile] | None = None
    if args.input_manifest:
        if not _on_ray():
            log.error("an input manifest (signed URLs) is read on a Ray cluster only; give --input on local compute")
            return 2
        try:
            remote = {f.name: f for f in manifest_files(Path(args.input_manifest))}
        except ManifestError as exc:
            log.error("%s", exc)
            return 2
        names: list[str] = list(remote)
        rows_of: dict[str, int | None] = dict.fromkeys(names)  # rows are counted as the files are read
    else:
        files = input_files(Path(args.input))
        names, rows_of = [str(f) for f in files], {str(f): count_rows(f) for f in files}
    if not names:
        log.error("the input %s holds no files to score", args.input or args.input_manifest)
        return 2
    batches = mini_batches(names, args.mini_batch_size)
    progress = Progress(batches, rows_of)
    workers = args.workers * args.instances if _on_ray() else args.workers  # local compute is one instance
    log.info(
        "scoring %d files (%s rows) in %d mini-batches of up to %d files, %d workers%s%s",
        len(names), progress.total_rows if progress.total_rows is not None else "?", len(batches),
        args.mini_batch_size, workers, " on Ray" if _on_ray() else "",
        ", read from signed URLs (nothing copied)" if remote is not None else "",
    )  # fmt: skip
    parts = output / ".parts"
    parts.mkdir(exist_ok=True)
    try:
        if _on_ray():
            from kiln.batch.ray_engine import score_on_ray

            outcome = score_on_ray(config, batches, parts, args, progress, remote)
        else:
            pool = WorkerPool(
                config, parts, workers, max_retries=args.max_retries, timeout=args.timeout,
                error_threshold=args.error_threshold, on_progress=progress,
            )  # fmt: skip
            outcome = pool.run(batches)
    except InitFailed as exc:
        log.error("init() failed, nothing was scored:\n%s", exc)
        return 2
    progress(outcome, final=True)
    rows = (
        join_parts(parts, outcome, output / args.output_file)
        if args.output_action == "append_row"
        else sum(outcome.rows.values())
    )
    shutil.rmtree(parts, ignore_errors=True)
    summary = _summary(batches, outcome, rows, args, progress.began)
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    if outcome.over_threshold:
        log.error(
            "%d files failed, more than error_threshold %d: the job fails (failed mini-batches: %s)",
            outcome.failed_files, args.error_threshold, ", ".join(map(str, sorted(outcome.failed))),
        )  # fmt: skip
        return 1
    failed = f", {len(outcome.failed)} mini-batches failed ({outcome.failed_files} files)" if outcome.failed else ""
    log.info("done: %d rows scored from %d files%s", rows, summary["files_scored"], failed)
    return 0


def _summary(
    batches: list[MiniBatch], outcome: Outcome, rows: int, args: argparse.Namespace, began: float
) -> dict[str, Any]:
    by_index = {b.index: b for b in batches}
    ended = time.monotonic()
    scoring = ended - (outcome.first_ready or began)
    return {
        "seconds": round(ended - began, 3), "scoring_seconds": round(scoring, 3),
        "rows_per_second_once_ready": round(rows / scoring, 1) if scoring > 0 else None,
        "rows_scored": rows, "files_scored": sum(len(by_index[i].files) for i in outcome.rows),
        "mini_batches": len(batches), "failed_mini_batches": len(outcome.failed), "failed_files": outcome.failed_files,
        "failed": [
            {"mini_batch": i, "files": [Path(f).name for f in by_index[i].files], "error": outcome.failed[i].splitlines()[0]}
            for i in sorted(outcome.failed)
        ],
        "retries": outcome.retries, "replaced_workers": outcome.replaced_workers, "output_action": args.output_action,
        "output_file": args.output_file if args.output_action == "append_row" else None,
    }  # fmt: skip


def _on_ray() -> bool:
    """The job runs on a Ray cluster: Ray's job submission sets RAY_ADDRESS for its driver, local compute sets it to
    ``local`` (as ``kiln.integrations.rllib`` reads it). ``KILN_BATCH_ENGINE=ray|local`` decides instead."""
    engine = os.environ.get("KILN_BATCH_ENGINE")
    if engine in ("ray", "local"):
        return engine == "ray"
    return os.environ.get("RAY_ADDRESS", "local") != "local"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kiln.batch.entry", description=__doc__)
    parser.add_argument("--model", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="the input's folder or file")
    source.add_argument("--input-manifest", help="a manifest of the input's files with signed URLs (on Ray)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--output-file", default="predictions.csv")
    parser.add_argument("--output-action", choices=("append_row", "summary_only"), default="append_row")
    parser.add_argument("--scoring-script")
    parser.add_argument("--mini-batch-size", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--max-retries", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--error-threshold", type=int, default=-1)
    parser.add_argument("--logging-level", default="info")
    return parser


if __name__ == "__main__":
    sys.exit(main())
