"""The layering of docs/architecture.md, checked on the code's own imports (tests/architecture_rules.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture_rules import Rule, violations

SRC = Path(__file__).resolve().parents[2] / "src"

# Runtime packages: the parts of kiln that do work, as opposed to the declarations (specs, api, errors).
RUNTIME = (
    "kiln.store", "kiln.services", "kiln.server", "kiln.jobs", "kiln.runners", "kiln.serving", "kiln.tracking",
    "kiln.artifacts", "kiln.environments", "kiln.sdk", "kiln.cli", "kiln.client", "kiln.transfer",
    "kiln.capabilities", "kiln.tensorboard", "kiln.datastores", "sqlalchemy", "fastapi", "httpx", "mlflow",
    "kiln.packaging",
)  # fmt: skip

RULES = [
    Rule("kiln.services", ("kiln.server",), "services hold the rules; the server is one of their callers"),
    Rule("kiln.datastores", ("kiln.server",), "datastores are rules and readers; the server is one of their callers"),
    Rule("kiln.specs", RUNTIME, "specs declare shapes; they are shared by every front door and the server"),
    Rule("kiln.api", RUNTIME, "the REST contract is declarations only: the SDK and the server both read it"),
    Rule("kiln.packaging.api", RUNTIME, "a capability's REST operations are declarations only: the SDK reads them too"),
    Rule("kiln.schedules.api", RUNTIME, "a capability's REST operations are declarations only: the SDK reads them too"),
    Rule("kiln.schedules.spec", RUNTIME, "a schedule's YAML is a shape: the CLI, the SDK and the server read it"),
    Rule("kiln.schedules.timetable", RUNTIME, "when runs fall is arithmetic: the SDK checks a trigger with it too"),
    Rule("kiln.errors", ("kiln.",), "the error tree is the bottom of the house", allowed=("kiln.errors",)),
    Rule(
        "kiln.serving.replica",
        ("kiln.store", "sqlalchemy", "alembic", "kiln.services", "kiln.server", "kiln.serving.control", "kiln.jobs"),
        "a scoring replica is a process that needs no database and knows nothing of the control plane",
    ),
    Rule(
        "kiln.serving.control",
        ("kiln.serving.replica", "kiln.services", "kiln.server"),
        "the control plane starts replicas as processes; it does not import them, nor the rules above it",
    ),
    Rule("kiln.jobs", ("kiln.runners",), "the job engine drives any runner through the Runner protocol"),
    Rule(
        "kiln.sdk",
        ("kiln.store", "kiln.services", "kiln.server", "kiln.jobs", "kiln.runners", "kiln.serving.control"),
        "the SDK is a client: it reaches the workspace over REST",
        allowed=("kiln.server.process",),  # the embedded workspace: the SDK starts its server process
    ),
    Rule(
        "kiln.studio",
        (
            "kiln.store",
            "kiln.jobs",
            "kiln.runners",
            "kiln.serving",
            "kiln.tracking",
            "kiln.artifacts",
            "kiln.environments",
            "kiln.sdk",
            "kiln.cli",
            "sqlalchemy",
            "mlflow",
        ),
        "studio pages read through the services, with the role checks of the REST operations they mirror",
    ),  # fmt: skip
    Rule(
        "kiln.cli",
        ("kiln.store", "kiln.services", "kiln.jobs", "kiln.runners", "kiln.serving.control"),
        "the CLI is parsing, one SDK call and rendering",
    ),
    Rule(
        "kiln.model_scoring",
        ("kiln.store", "kiln.services", "kiln.server", "kiln.jobs", "kiln.runners"),
        "the scoring process runs a user's model in the sandbox: it holds no part of the server",
    ),
]


def test_the_code_keeps_the_layering() -> None:
    found = violations(SRC, RULES)
    assert not found, "imports that break docs/architecture.md:\n" + "\n".join(map(str, found))


@pytest.mark.parametrize(
    ("module", "code", "caught"),
    [
        ("kiln/services/bad.py", "from kiln.server.app import create_app\n", True),
        ("kiln/services/bad.py", "def f():\n    import kiln.server.auth\n", True),  # lazy imports count
        ("kiln/services/bad.py", "from ..server import auth\n", True),  # relative imports count
        ("kiln/services/bad.py", "from kiln import server\n", True),
        ("kiln/specs/bad.py", "from kiln.store.tables import JobRow\n", True),
        ("kiln/jobs/bad.py", "from kiln.runners.local import LocalRunner\n", True),
        ("kiln/serving/replica/bad.py", "import sqlalchemy\n", True),
        ("kiln/sdk/bad.py", "from kiln.server.process import ensure_server\n", False),  # allowed
        ("kiln/services/fine.py", "from kiln.store.jobs import JobRepository\n", False),
    ],
)
def test_the_checker_catches_a_planted_import(tmp_path: Path, module: str, code: str, caught: bool) -> None:
    """The rules above can fail: an import planted in a throw-away tree is reported (or let through)."""
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text(code)
    assert bool(violations(tmp_path, RULES)) is caught
