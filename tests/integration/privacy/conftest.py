"""What the privacy tests share: the engine's Python (skipped where it was not installed), generated patients
and a private version of them."""

from __future__ import annotations

import csv
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kiln.errors import Conflict, KilnError
from kiln.privacy.engine import engine_python
from tests.conftest import WorkspaceServer

METADATA = {
    "max_ids": 1,
    "pid": {"type": "int", "private_id": True},
    "sex": {"type": "string"},
    "age": {"type": "int", "lower": 18, "upper": 90},
}


def installed_engine() -> Path:
    """The engine scripts/install.sh made (or KILN_PRIVACY_ENGINE_PYTHON names): the tests skip without it."""
    python = engine_python(os.environ.get("KILN_PRIVACY_ENGINE_PYTHON", ""))
    if not python.exists():
        pytest.skip(f"kiln privacy's engine is not installed at {python}: scripts/install.sh test makes it")
    return python


@dataclass(frozen=True)
class Patients:
    rows: int
    females: int
    mean_age: float


def write_patients(folder: Path, rows: int, seed: int = 7) -> Patients:
    """patients.csv (pid, sex, age; one row per person) and its truth."""
    chance = random.Random(seed)
    people = [(pid, chance.choice("FM"), chance.randint(18, 90)) for pid in range(rows)]
    with (folder / "patients.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pid", "sex", "age"])
        writer.writerows(people)
    return Patients(rows, sum(1 for p in people if p[1] == "F"), sum(p[2] for p in people) / rows)


def write_private_spec(folder: Path, name: str, epsilon: float, delta: float = 1e-5) -> Path:
    """patients.yml (uri_file, privacy with the metadata in a file beside it), for kiln data create -f."""
    (folder / "patients.meta.yml").write_text(yaml.safe_dump(METADATA))
    spec = {
        "name": name, "version": "1", "type": "uri_file", "path": "patients.csv",
        "privacy": {"epsilon": epsilon, "delta": delta, "metadata": "patients.meta.yml"},
    }  # fmt: skip
    path = folder / "patients.yml"
    path.write_text(yaml.safe_dump(spec))
    return path


def fifty_concurrent_count_queries(servers: list[WorkspaceServer], name: str) -> list[str]:
    """50 COUNT queries at epsilon 0.1 on version 1 of ``name`` at once, spread over ``servers``: each one's outcome,
    "answered", "refused" (the budget could not pay: Conflict) or "error: …"."""
    sql = f"SELECT COUNT(*) AS n FROM {name}"

    def ask(index: int) -> str:
        with servers[index % len(servers)].client() as client:
            try:
                client.privacy.query(name, "1", sql, epsilon=0.1, delta=1e-7)  # delta for all 50: epsilon binds
                return "answered"
            except Conflict:
                return "refused"
            except KilnError as exc:
                return f"error: {exc.message}"

    with ThreadPoolExecutor(50) as pool:
        return list(pool.map(ask, range(50)))
