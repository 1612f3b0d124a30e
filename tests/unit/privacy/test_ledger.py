"""The privacy ledger on SQLite: charges add up, a charge the budget cannot pay changes nothing, and 50 threads
charging at once never overspend the budget (each charge is one conditional update and its row)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kiln.store.database import create_database_engine, migrate, session_factory
from kiln.store.privacy import Charge, PrivacyLedger
from kiln.store.tables import PrivacyBudgetRow, PrivacyChargeRow


@pytest.fixture
def ledger(tmp_path: Path) -> PrivacyLedger:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    migrate(engine)
    made = PrivacyLedger(session_factory(engine))
    made.open_budget("patients", "1", epsilon=3.0, delta=1e-6)
    return made


def test_charges_add_up_and_one_past_the_budget_changes_nothing(ledger: PrivacyLedger) -> None:
    first = ledger.charge("patients", "1", Charge("ann", "query", "SELECT COUNT(*) FROM patients", 1.25, 1e-7))
    second = ledger.charge("patients", "1", Charge("bob", "query", "SELECT AVG(age) FROM patients", 1.25, 1e-7))
    assert first is not None and second is not None and second.id > first.id
    assert ledger.charge("patients", "1", Charge("ann", "query", "too much", 0.6, 0.0)) is None
    budget = ledger.budget("patients", "1")
    assert (
        budget is not None and budget.spent_epsilon == pytest.approx(2.5) and budget.spent_delta == pytest.approx(2e-7)
    )
    charges = ledger.charges("patients", "1")
    assert [(c.charged_by, c.what, c.epsilon) for c in charges] == [
        ("ann", "SELECT COUNT(*) FROM patients", 1.25),
        ("bob", "SELECT AVG(age) FROM patients", 1.25),
    ]
    assert all(c.charged_at is not None and c.kind == "query" for c in charges)
    # what is left exactly fits; delta is charged against its own total
    assert ledger.charge("patients", "1", Charge("ann", "query", "the rest", 0.5, 0.0)) is not None
    assert ledger.charge("patients", "1", Charge("ann", "query", "no delta left?", 0.0, 1e-6)) is None


def test_a_budget_is_opened_once_and_never_changes(ledger: PrivacyLedger) -> None:
    ledger.open_budget("patients", "1", epsilon=100.0, delta=0.5)
    budget = ledger.budget("patients", "1")
    assert budget is not None and (budget.epsilon, budget.delta) == (3.0, 1e-6)
    assert ledger.charge("other", "1", Charge("ann", "query", "no budget", 0.1, 0.0)) is None


def test_fifty_concurrent_charges_never_overspend(ledger: PrivacyLedger) -> None:
    results: list[bool] = []
    start = threading.Barrier(50)

    def charge(index: int) -> None:
        start.wait()
        results.append(ledger.charge("patients", "1", Charge(f"u{index}", "query", f"q{index}", 0.25, 0.0)) is not None)

    threads = [threading.Thread(target=charge, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    budget = ledger.budget("patients", "1")
    assert budget is not None
    assert len(results) == 50  # every thread got an answer (none failed on a locked database)
    assert results.count(True) == 12  # 3.0 / 0.25: exactly what the budget pays, the 38 others refused
    assert budget.spent_epsilon == pytest.approx(3.0) and budget.spent_epsilon <= budget.epsilon + 1e-12
    assert len(ledger.charges("patients", "1")) == 12


def test_a_charge_against_several_budgets_is_all_or_none(ledger: PrivacyLedger) -> None:
    ledger.open_budget("credit", "1", epsilon=0.5, delta=0.0)
    job = Charge("ann", "job", "command job train: python train.py", 1.0, 0.0)
    assert ledger.charge_all([("patients", "1"), ("credit", "1")], job) == []  # credit cannot pay: nothing spent
    budget = ledger.budget("patients", "1")
    assert budget is not None and budget.spent_epsilon == 0.0 and ledger.charges("patients", "1") == []
    charged = ledger.charge_all([("patients", "1"), ("credit", "1")], Charge("ann", "job", "smaller", 0.5, 0.0))
    assert [(c.data_name, c.epsilon) for c in charged] == [("patients", 0.5), ("credit", 0.5)]


def test_a_ledger_restored_from_another_workspace_keeps_its_spend_and_is_restored_once(ledger: PrivacyLedger) -> None:
    """What a workspace import does: the budget as spent and its charges, numbered by this database."""
    ledger.charge("patients", "1", Charge("ann", "query", "here first", 0.5, 0.0))
    source = ledger.charges("patients", "1")[0]
    moved = PrivacyBudgetRow(data_name="moved", data_version="2", epsilon=2.0, delta=1e-6, spent_epsilon=1.5,
                             spent_delta=2e-7)  # fmt: skip
    charges = [
        PrivacyChargeRow(
            data_name="moved",
            data_version="2",
            charged_by="bob",
            charged_at=source.charged_at,
            kind="query",
            what=f"q{i}",
            epsilon=0.75,
            delta=1e-7,
        )  # fmt: skip
        for i in range(2)
    ]
    assert ledger.restore(moved, charges)
    budget = ledger.budget("moved", "2")
    assert budget is not None and (budget.spent_epsilon, budget.spent_delta) == (1.5, 2e-7)
    assert [(c.what, c.charged_by) for c in ledger.charges("moved", "2")] == [("q0", "bob"), ("q1", "bob")]
    assert {(b.data_name, b.data_version) for b in ledger.budgets()} == {("patients", "1"), ("moved", "2")}
    assert ledger.charge("moved", "2", Charge("ann", "query", "too much", 0.6, 0.0)) is None  # 0.5 left, not 2.0
    again = PrivacyBudgetRow(data_name="moved", data_version="2", epsilon=2.0, delta=1e-6, spent_epsilon=0.0,
                             spent_delta=0.0)  # fmt: skip
    assert not ledger.restore(again, [])
    budget = ledger.budget("moved", "2")
    assert budget is not None and budget.spent_epsilon == 1.5 and len(ledger.charges("moved", "2")) == 2
