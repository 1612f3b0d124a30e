"""The privacy ledger: each private data version's budget and every charge against it.

A charge is one conditional ``UPDATE`` of the budget's row (``spent + cost <= total``) and the insert of its
charge row, in one transaction: on SQLite the writer lock and on PostgreSQL the row lock the ``UPDATE`` takes
serialise concurrent charges, so the budget is never overspent whichever server or thread charges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kiln.clock import utcnow
from kiln.store.database import insert_unique
from kiln.store.tables import PrivacyBudgetRow, PrivacyChargeRow

SLACK = 1e-12  # float sums: 0.1 + 0.2 charged against a budget of 0.3 still fits


@dataclass(frozen=True)
class Charge:
    """What one charge costs and who asks for it, for what."""

    charged_by: str
    kind: str  # query, synthesis, job
    what: str
    epsilon: float
    delta: float


class _CannotPay(Exception):
    pass


class _AlreadyOpen(Exception):
    pass


class PrivacyLedger:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def open_budget(self, name: str, version: str, epsilon: float, delta: float) -> None:
        """The budget's row (made once; a version's budget never changes)."""
        row = PrivacyBudgetRow(
            data_name=name, data_version=version, epsilon=epsilon, delta=delta, spent_epsilon=0.0, spent_delta=0.0
        )
        insert_unique(self._sessions, row)

    def budget(self, name: str, version: str) -> PrivacyBudgetRow | None:
        with self._sessions() as session:
            return session.get(PrivacyBudgetRow, (name, version))

    def charges(self, name: str, version: str) -> list[PrivacyChargeRow]:
        """Every charge against the version, oldest first."""
        query = (
            select(PrivacyChargeRow)
            .where(PrivacyChargeRow.data_name == name, PrivacyChargeRow.data_version == version)
            .order_by(PrivacyChargeRow.id)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def budgets(self) -> list[PrivacyBudgetRow]:
        """Every budget opened so far (a private version's budget is opened on its first use)."""
        with self._sessions() as session:
            return list(session.scalars(select(PrivacyBudgetRow)))

    def restore(self, budget: PrivacyBudgetRow, charges: list[PrivacyChargeRow]) -> bool:
        """A budget as another workspace kept it, with what it spent and its charges (numbered anew here), in one
        transaction (a workspace import); False, and nothing written, if the version's budget is open here."""
        try:
            with self._sessions.begin() as session:
                if session.get(PrivacyBudgetRow, (budget.data_name, budget.data_version)) is not None:
                    raise _AlreadyOpen
                session.add(budget)
                session.flush()  # the budget's row before its charges, whatever the database orders
                session.add_all(charges)
        except _AlreadyOpen:
            return False
        return True

    def charge(self, name: str, version: str, charge: Charge) -> PrivacyChargeRow | None:
        """Record ``charge`` if the budget can pay it (else None, and nothing changes)."""
        charged = self.charge_all([(name, version)], charge)
        return charged[0] if charged else None

    def charge_all(self, versions: list[tuple[str, str]], charge: Charge) -> list[PrivacyChargeRow]:
        """Record ``charge`` against each version's budget, all or none (empty: one of them could not pay)."""
        rows: list[PrivacyChargeRow] = []
        try:
            with self._sessions.begin() as session:
                for name, version in versions:
                    if int(getattr(session.execute(self._spend(name, version, charge)), "rowcount", 0)) != 1:
                        raise _CannotPay  # rolls back what this transaction spent on the others
                    row = PrivacyChargeRow(
                        data_name=name, data_version=version, charged_by=charge.charged_by, charged_at=utcnow(),
                        kind=charge.kind, what=charge.what, epsilon=charge.epsilon, delta=charge.delta,
                    )  # fmt: skip
                    session.add(row)
                    rows.append(row)
        except _CannotPay:
            return []
        return rows

    @staticmethod
    def _spend(name: str, version: str, charge: Charge) -> Any:
        return (
            update(PrivacyBudgetRow)
            .where(
                PrivacyBudgetRow.data_name == name,
                PrivacyBudgetRow.data_version == version,
                PrivacyBudgetRow.spent_epsilon + charge.epsilon <= PrivacyBudgetRow.epsilon + SLACK,
                PrivacyBudgetRow.spent_delta + charge.delta <= PrivacyBudgetRow.delta + SLACK,
            )
            .values(
                spent_epsilon=PrivacyBudgetRow.spent_epsilon + charge.epsilon,
                spent_delta=PrivacyBudgetRow.spent_delta + charge.delta,
            )
        )
