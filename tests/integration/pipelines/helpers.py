"""Small pipelines for the tests: one-line ``python -c`` steps that write and read files in their outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# prep writes ./data/n.txt; train reads it, writes ./model/w.txt = n * factor; score reads both
PREP = "python -c \"import sys, pathlib; pathlib.Path(sys.argv[1], 'n.txt').write_text(sys.argv[2])\" ${{outputs.data}} ${{inputs.n}}"
TRAIN = (
    "python -c \"import sys, pathlib; n = int(pathlib.Path(sys.argv[1], 'n.txt').read_text()); "
    "pathlib.Path(sys.argv[3], 'w.txt').write_text(str(n * int(sys.argv[2])))\" ${{inputs.data}} ${{inputs.factor}} ${{outputs.model}}"
)
SCORE = (
    "python -c \"import sys, pathlib; n = pathlib.Path(sys.argv[1], 'n.txt').read_text(); "
    "w = pathlib.Path(sys.argv[2], 'w.txt').read_text(); pathlib.Path(sys.argv[3], 'score.txt').write_text(n + ':' + w)\" "
    "${{inputs.data}} ${{inputs.model}} ${{outputs.report}}"
)


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def train_component(folder: Path, name: str = "t_train") -> Path:
    (folder / "code").mkdir(parents=True, exist_ok=True)
    (folder / "code" / "README").write_text("the train component's code folder\n")
    return write_yaml(folder / "train.yml", {
        "$schema": "https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json",
        "type": "command", "name": name,
        "inputs": {"data": {"type": "uri_folder"}, "factor": {"type": "integer", "default": 3}},
        "outputs": {"model": {"type": "uri_folder"}},
        "code": "./code", "command": TRAIN,
    })  # fmt: skip


def score_component(folder: Path, name: str) -> Path:
    return write_yaml(folder / "score.yml", {
        "type": "command", "name": name,
        "inputs": {"data": {"type": "uri_folder"}, "model": {"type": "uri_folder"}},
        "outputs": {"report": {"type": "uri_folder"}}, "command": SCORE,
    })  # fmt: skip


def three_steps(folder: Path, score: str, n: int = 7, **settings: Any) -> dict[str, Any]:
    """prep (inline) → train (a component from a file) → score (``score``: a registered component)."""
    train_component(folder)
    return {
        "type": "pipeline", "experiment_name": "pipeline-tests",
        "inputs": {"n": n}, "outputs": {"report": {"type": "uri_folder"}},
        "settings": {"default_compute": "local", **settings},
        "jobs": {
            "prep": {"type": "command", "command": PREP, "inputs": {"n": "${{parent.inputs.n}}"},
                     "outputs": {"data": {"type": "uri_folder"}}},
            "train": {"component": "file:./train.yml", "inputs": {"data": "${{parent.jobs.prep.outputs.data}}"}},
            "score": {"component": score, "inputs": {"data": "${{parent.jobs.prep.outputs.data}}",
                                                     "model": "${{parent.jobs.train.outputs.model}}"},
                      "outputs": {"report": "${{parent.outputs.report}}"}},
        },
    }  # fmt: skip


def step_jobs(client: Any, pipeline: str) -> dict[str, Any]:
    """The pipeline's steps' jobs, by step name."""
    found, _ = client.jobs.search(tags={"kiln.parent": pipeline}, sort="created", limit=100)
    return {job.view.tags["kiln.pipeline.step"]: job for job in found}
