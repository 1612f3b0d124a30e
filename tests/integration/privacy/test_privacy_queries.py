"""DP queries over a private data version, end to end: created with the CLI (metadata from a file), queried
through the SDK and the CLI, each answer charged to the ledger; refusals charge nothing; 50 concurrent queries
that together want more than the budget never overspend it."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from kiln.errors import Conflict, InvalidSpec
from tests.conftest import WorkspaceServer, server_env
from tests.integration.privacy.conftest import (
    Patients,
    fifty_concurrent_count_queries,
    installed_engine,
    write_patients,
    write_private_spec,
)
from tests.lanes import server_fixture

COUNT_AND_MEAN = "SELECT sex, COUNT(*) AS n, AVG(age) AS mean_age FROM {table} GROUP BY sex"


@server_fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    engine = installed_engine()
    home = tmp_path_factory.mktemp("kiln-privacy-home")
    started = WorkspaceServer(home, server_env(home, privacy_engine_python=str(engine))).start()
    yield started
    started.stop()


def private_version(server: WorkspaceServer, folder: Path, epsilon: float, rows: int = 2000) -> tuple[str, Patients]:
    name = f"patients_{uuid.uuid4().hex[:8]}"
    truth = write_patients(folder, rows)
    created = server.cli("data", "create", "-f", str(write_private_spec(folder, name, epsilon)), check=True)
    assert name in created.stdout
    return name, truth


def females(answer) -> list[float]:  # type: ignore[no-untyped-def]
    """The answer's numbers for the row of women (count, then the mean age where asked)."""
    return next(r for r in answer.rows if r[0] == "F")[1:]


def test_answers_are_close_at_a_large_epsilon_and_noisy_at_a_small_one(server: WorkspaceServer, tmp_path: Path) -> None:
    name, truth = private_version(server, tmp_path, epsilon=100.0)
    with server.client() as client:
        sql = COUNT_AND_MEAN.format(table=name)
        precise = client.privacy.query(name, "1", sql, epsilon=40.0)
        count, mean = females(precise)
        assert abs(count - truth.females) <= 10 and abs(mean - truth.mean_age) <= 2.0
        assert precise.epsilon == pytest.approx(40.0) and precise.remaining_epsilon == pytest.approx(60.0)
        # at epsilon 0.05 each count's Laplace noise has a scale of ~80 people: five answers far from the truth
        noisy = [
            females(client.privacy.query(name, "1", f"SELECT sex, COUNT(*) AS n FROM {name} GROUP BY sex", 0.05))[0]
            for _ in range(5)
        ]  # noqa: E501
        assert statistics.mean(abs(n - truth.females) for n in noisy) > abs(count - truth.females)
        assert len(set(noisy)) > 1  # fresh noise each time
        budget = client.privacy.budget(name, "1")
    assert len(budget.charges) == 6 and budget.spent_epsilon == pytest.approx(40.25)


def test_refusals_charge_nothing_and_say_why(server: WorkspaceServer, tmp_path: Path) -> None:
    name, _ = private_version(server, tmp_path, epsilon=1.0)
    with server.client() as client:
        client.privacy.query(name, "1", f"SELECT COUNT(*) AS n FROM {name}", epsilon=0.75)
        with pytest.raises(Conflict, match=r"the privacy budget left is epsilon 0\.25.*Nothing was charged"):
            client.privacy.query(name, "1", f"SELECT COUNT(*) AS n FROM {name}", epsilon=0.5)
        with pytest.raises(InvalidSpec, match="more than .*whole budget"):
            client.privacy.query(name, "1", f"SELECT COUNT(*) AS n FROM {name}", epsilon=2.0)
        with pytest.raises(InvalidSpec, match="sql: Column cannot be found income"):
            client.privacy.query(name, "1", f"SELECT AVG(income) FROM {name}", epsilon=0.1)
        with pytest.raises(InvalidSpec, match="sql: .*missing SELECT"):
            client.privacy.query(name, "1", f"DELETE FROM {name}", epsilon=0.1)
        with pytest.raises(InvalidSpec, match="sql: .*does not include an aggregate"):
            client.privacy.query(name, "1", f"SELECT age FROM {name}", epsilon=0.1)  # raw rows: never
        for epsilon in (0.0, -1.0):  # refused by the server too (tests/security/test_privacy.py sends it raw)
            with pytest.raises(ValidationError, match="epsilon"):
                client.privacy.query(name, "1", f"SELECT COUNT(*) FROM {name}", epsilon=epsilon)
        budget = client.privacy.budget(name, "1")
    assert len(budget.charges) == 1 and budget.remaining_epsilon == pytest.approx(0.25)


def test_a_version_that_is_not_private_or_metadata_that_contradicts_the_data_is_refused(
    server: WorkspaceServer, tmp_path: Path
) -> None:
    name = f"plain_{uuid.uuid4().hex[:8]}"
    write_patients(tmp_path, 10)
    server.cli("data", "create", "--name", name, "--version", "1", "--type", "uri_file", "--path",
               str(tmp_path / "patients.csv"), check=True)  # fmt: skip
    with server.client() as client, pytest.raises(InvalidSpec, match="is not private"):
        client.privacy.budget(name, "1")
    (tmp_path / "patients.csv").write_text("pid,sex,age\n1,F,forty\n")
    refused = server.cli("data", "create", "-f", str(write_private_spec(tmp_path, f"bad_{name}", 1.0)))
    assert refused.returncode != 0 and "column 'age' is declared int, but line 2 holds 'forty'" in refused.stderr


def test_fifty_concurrent_queries_never_overspend(server: WorkspaceServer, tmp_path: Path) -> None:
    name, _ = private_version(server, tmp_path, epsilon=2.0)
    outcomes = fifty_concurrent_count_queries([server], name)
    assert outcomes.count("answered") == 20 and outcomes.count("refused") == 30, sorted(set(outcomes))  # 50 × 0.1 > 2.0
    with server.client() as client:
        budget = client.privacy.budget(name, "1")
    assert len(budget.charges) == 20 and budget.spent_epsilon == pytest.approx(2.0)
    assert budget.spent_epsilon <= budget.epsilon + 1e-9


def test_kiln_privacy_budget_lists_every_charge_with_who_when_and_what(server: WorkspaceServer, tmp_path: Path) -> None:
    name, _ = private_version(server, tmp_path, epsilon=3.0)
    sql = COUNT_AND_MEAN.format(table=name)
    answered = server.cli("privacy", "query", "-n", name, "-v", "1", "--epsilon", "0.5", "--sql", sql, check=True)
    assert "mean_age" in answered.stdout and "charged epsilon 0.5" in answered.stdout
    listed = server.cli("privacy", "budget", "-n", name, "-v", "1", "-o", "json", check=True)
    assert '"what": "' + sql + '"' in listed.stdout and '"charged_by": "' in listed.stdout
    table = server.cli("privacy", "budget", "-n", name, "-v", "1", check=True)
    assert "query" in table.stdout and "0.5" in table.stdout and "sequential composition" in table.stdout


def test_the_readme_example_creates_queries_and_lists_its_budget(server: WorkspaceServer) -> None:
    server.cli("data", "create", "-f", "examples/privacy/patients.yml", check=True)
    sql = "SELECT sex, COUNT(*) AS n, AVG(age) AS mean_age FROM patients GROUP BY sex"
    server.cli("privacy", "query", "-n", "patients", "-v", "1", "--epsilon", "0.5", "--sql", sql, check=True)
    listed = server.cli("privacy", "budget", "-n", "patients", "-v", "1", "-o", "json", check=True)
    assert '"spent_epsilon": 0.5' in listed.stdout and '"remaining_epsilon": 2.5' in listed.stdout
