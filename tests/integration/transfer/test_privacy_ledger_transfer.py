"""kiln privacy's ledger travels with a workspace: the export carries each private version's budget as spent and
every charge, the import restores them (an imported private version does not start unspent), a target whose own
ledger of the same version differs refuses the import (ledgers are never merged) or, with --on-conflict skip,
keeps its own, and importing the same archive again adds no charge twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.errors import Conflict
from tests.conftest import WorkspaceServer, server_env
from tests.integration.privacy.conftest import installed_engine, write_patients, write_private_spec
from tests.lanes import server_fixture


def start(home: Path) -> WorkspaceServer:
    return WorkspaceServer(home, server_env(home, privacy_engine_python=str(installed_engine()))).start()


@server_fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    started = start(tmp_path_factory.mktemp("kiln-ledger-source"))
    yield started
    started.stop()


@server_fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    started = start(tmp_path_factory.mktemp("kiln-ledger-target"))
    yield started
    started.stop()


def private(server: WorkspaceServer, folder: Path, name: str) -> None:
    """NAME:1, a private version (epsilon 2) of the same 300 generated patients wherever it is made."""
    folder.mkdir(parents=True, exist_ok=True)
    write_patients(folder, 300)
    server.cli("data", "create", "-f", str(write_private_spec(folder, name, epsilon=2.0)), check=True)


def count(server: WorkspaceServer, name: str, epsilon: float) -> None:
    with server.client() as client:
        client.privacy.query(name, "1", f"SELECT COUNT(*) AS n FROM {name}", epsilon=epsilon)


def ledger(server: WorkspaceServer, name: str) -> tuple[float, list[tuple[str, str, str, float, float]]]:
    """What the version's budget has spent and its charges, as both workspaces can compare them."""
    with server.client() as client:
        budget = client.privacy.budget(name, "1")
    charges = [(c.charged_by, c.charged_at.isoformat(), c.what, c.epsilon, c.delta) for c in budget.charges]
    return budget.spent_epsilon, charges


def test_the_ledger_moves_with_the_workspace_and_conflicting_ledgers_are_refused(
    source: WorkspaceServer, target: WorkspaceServer, tmp_path: Path
) -> None:
    private(source, tmp_path / "spent", "spent")
    count(source, "spent", 0.5)
    count(source, "spent", 0.75)
    private(source, tmp_path / "clash", "clash")
    count(source, "clash", 0.25)
    private(source, tmp_path / "unused", "unused")  # its budget was never opened: nothing to carry
    archive = tmp_path / "workspace.tar.gz"
    exported = source.cli("workspace", "export", "--to", str(archive), check=True)
    assert "2 privacy ledgers" in exported.stdout + exported.stderr

    private(target, tmp_path / "target-clash", "clash")  # the same version, spent otherwise on the target
    count(target, "clash", 1.0)
    refused = target.cli("workspace", "import", str(archive))
    assert refused.returncode == 4, refused.stderr
    assert "privacy ledger clash:1: the target's privacy budget of clash:1 has other charges" in refused.stderr
    assert "ledgers are not merged" in refused.stderr and "nothing was imported" in refused.stderr
    with target.client() as client:
        assert [d.name for d in client.data.list()] == ["clash"]

    skipped = target.cli("workspace", "import", str(archive), "--on-conflict", "skip", check=True)
    assert "privacy ledgers: 1 imported" in skipped.stdout and "numbered anew on this server" in skipped.stderr
    assert ledger(target, "spent") == ledger(source, "spent")
    assert ledger(target, "spent")[0] == pytest.approx(1.25)  # not unspent: the source's spend came along
    assert ledger(target, "clash")[0] == pytest.approx(1.0)  # the target's own ledger, nothing added
    assert ledger(target, "unused") == (0.0, [])
    with target.client() as client, pytest.raises(Conflict, match="the privacy budget left is epsilon 0.75"):
        client.privacy.query("spent", "1", "SELECT COUNT(*) AS n FROM spent", epsilon=1.0)

    again = target.cli("workspace", "import", str(archive), "--on-conflict", "skip", check=True)
    assert "privacy ledgers: 0 imported, 1 already there" in again.stdout
    count(target, "spent", 0.5)  # later charges on the target: the archive's are still there
    assert target.cli("workspace", "import", str(archive), "--on-conflict", "skip", check=True).returncode == 0
    assert len(ledger(target, "spent")[1]) == 3
