"""A Ray compute target: the mini-batches go through Ray Data (``from_items`` of their file lists, ``map_batches``
with an actor class that builds its scorer — ``init()`` — once per actor, ``instance_count ×
max_concurrency_per_instance`` actors). Ray Data schedules, streams and restarts; kiln writes no scheduler here.
A mini-batch that raises is tried again in its actor up to ``max_retries`` times, then reported as failed (with its
files and exception) and counted against ``error_threshold``. Results come back in order and are written as the
same part files as on local compute. With the input's manifest (``remote``: each file by name), each item carries its
files' signed URLs and sizes and the actors stream the files from them (:class:`kiln.batch.scorer.RemoteFile`): the input never
travels with the job, and an actor holds one mini-batch at a time. The model (an input the job's driver downloads
from its manifest, ``kiln.runners.ray.entry``) is downloaded on each actor's node before the actor loads it."""

from __future__ import annotations

import argparse
import logging
import traceback
from pathlib import Path
from typing import Any

from kiln.batch.pool import TRACEBACK_LIMIT, MiniBatch, Outcome, part_path
from kiln.batch.scorer import InputFile, RemoteFile, Scorer, ScorerConfig
from kiln.runners.ray.entry import fetch_inputs

log = logging.getLogger("kiln.batch")


class ScoringActor:
    """One Ray actor: a scorer built once, scoring the mini-batches Ray Data hands it (one row per mini-batch)."""

    def __init__(self, config: ScorerConfig, max_retries: int) -> None:
        # the model, as the job's driver downloaded it on its own node: here too, on whatever node this actor is
        fetch_inputs(Path.cwd())
        self.scorer = Scorer(config)
        self.max_retries = max_retries

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        indexes, results, errors = [], [], []
        urls, sizes = batch.get("urls"), batch.get("sizes")
        for position, (index, names) in enumerate(zip(batch["index"], batch["files"], strict=True)):
            files: list[InputFile] = [str(name) for name in names]
            if urls is not None and sizes is not None:
                files = [
                    RemoteFile(str(n), str(u), int(z))
                    for n, u, z in zip(names, urls[position], sizes[position], strict=True)
                ]
            error = ""
            for _ in range(self.max_retries + 1):
                try:
                    frame = self.scorer.score(files)
                    results.append(frame.to_csv(index=False))
                    error = ""
                    break
                except Exception as exc:  # noqa: BLE001 - retried, then reported to the driver
                    error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-TRACEBACK_LIMIT:]}"
            if error:
                results.append("")
            indexes.append(int(index))
            errors.append(error)
        return {"index": indexes, "csv": results, "error": errors}


def score_on_ray(
    config: ScorerConfig,
    batches: list[MiniBatch],
    parts: Path,
    args: argparse.Namespace,
    progress: Any,
    remote: dict[str, RemoteFile] | None = None,
) -> Outcome:
    import ray
    import ray.data

    if not ray.is_initialized():
        ray.init(log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    actors = args.workers * args.instances
    items: list[dict[str, Any]] = [{"index": b.index, "files": list(b.files)} for b in batches]
    if remote is not None:
        for item in items:
            item["urls"] = [remote[name].url for name in item["files"]]
            item["sizes"] = [remote[name].size or 0 for name in item["files"]]
    scored = ray.data.from_items(items).map_batches(
        ScoringActor, batch_size=1, concurrency=actors, batch_format="numpy",
        fn_constructor_kwargs={"config": config, "max_retries": args.max_retries},
    )  # fmt: skip
    outcome = Outcome()
    by_index = {b.index: b for b in batches}
    for row in scored.iter_rows():
        index, error = int(row["index"]), str(row["error"])
        if error:
            batch = by_index[index]
            outcome.failed[index] = error
            outcome.failed_files += len(batch.files)
            log.error("mini-batch %d failed after %d tries; files: %s\n%s", index, args.max_retries + 1,
                      ", ".join(Path(f).name for f in batch.files), error.rstrip())  # fmt: skip
            if 0 <= args.error_threshold < outcome.failed_files:
                outcome.over_threshold = True
                break
        else:
            text = str(row["csv"])
            part_path(parts, index).write_text(text)
            outcome.rows[index] = max(text.count("\n") - 1, 0)
        progress(outcome)
    return outcome
