"""What a venv is built from, normalized, and the content hash that names it in the cache."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from kiln.environments.pip_config import IndexSettings
from kiln.errors import InvalidSpec

HASH_SCHEME = 2  # bump when the venv layout or the build steps change (2: every venv has its own pip)
MLFLOW_PACKAGES = {"mlflow", "mlflow-skinny"}


@dataclass(frozen=True)
class BuildSpec:
    python: str  # the interpreter's full version, e.g. 3.11.7
    interpreter: str  # its path on the workspace server
    requirements: tuple[str, ...]
    index: IndexSettings

    @property
    def hash(self) -> str:
        """Same python, same requirements (in any order), same index settings: same venv."""
        document = {
            "scheme": HASH_SCHEME,
            "python": self.python,
            "requirements": sorted(self.requirements),
            "index": self.index.fingerprint(),
        }
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"python": self.python, "requirements": list(self.requirements)}


def normalize_requirements(lines: list[str], field: str) -> list[str]:
    """Check each line is a pip requirement (InvalidSpec naming it if not); drop duplicates."""
    seen: dict[str, None] = {}
    for line in lines:
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            raise InvalidSpec(f"{field}: '{line}' is not a valid pip requirement: {exc}") from None
        seen[re.sub(r"\s+", "", line) if " @ " not in line else line] = None
    return list(seen)


def requirement_names(lines: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in lines}


def mlflow_requirement() -> str:
    """The MLflow client a job needs to log to this server: the server's own version, skinny."""
    return f"mlflow-skinny=={metadata.version('mlflow')}"


def with_mlflow(lines: list[str]) -> tuple[list[str], str | None]:
    """Add the MLflow client if the spec names neither ``mlflow`` nor ``mlflow-skinny``."""
    if requirement_names(lines) & MLFLOW_PACKAGES:
        return lines, None
    added = mlflow_requirement()
    return [*lines, added], added
