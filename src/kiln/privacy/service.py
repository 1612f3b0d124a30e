"""The privacy capability in the workspace server: private versions checked at create, DP queries answered by
the engine and charged to the version's ledger, budgets read.

A query is answered, then charged, and released only if the charge went through: the answer and its charge are
one step for the caller (a refused or failed query charges nothing and returns nothing, an answer is never
returned without its charge recorded). The ledger's conditional update keeps the budget from being overspent
whatever the concurrency (kiln.store.privacy)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from kiln.capabilities.services import CapabilityContext
from kiln.errors import AlreadyExists, Conflict, InvalidSpec
from kiln.privacy.api import BudgetView, ChargeView, QueryAnswer, QueryRequest, SynthesisAnswer, SynthesisRequest
from kiln.privacy.engine import PrivacyEngine, engine_python
from kiln.privacy.metadata import check_against_data, columns_of, table_file
from kiln.specs.data import DataPrivacy, DataSpec
from kiln.specs.job import ProcessJobSpec
from kiln.specs.pins import DataPin, InputPin, input_pins
from kiln.store.privacy import Charge, PrivacyLedger
from kiln.store.tables import DataAssetRow, JobRow, PrivacyBudgetRow

JOB_CHARGES_TAG = "kiln.privacy.charges"  # on a job that read private data: what the ledger charged it
DEFAULT_DELTA_SHARE = 0.1  # a query that names no delta may spend a tenth of the version's total delta


def table_name(asset: str) -> str:
    """How a query names the version's table: the asset's name, with what SQL does not allow in a name as _."""
    return re.sub(r"\W", "_", asset)


class PrivacyService:
    def __init__(self, context: CapabilityContext) -> None:
        self.data = context.data
        self.store = context.artifacts
        self.scratch = context.folder  # synthetic data is written here before it is stored
        self.ledger = PrivacyLedger(context.data.assets.sessions)
        python = engine_python(context.settings.privacy_engine_python)
        # two engine processes, each started on first use: queries (under a second each) never wait behind a
        # synthesizer (tens of seconds); syntheses wait for each other, so at most two engines run
        self.engine = PrivacyEngine(python)
        self.synthesis_engine = PrivacyEngine(python)
        context.data.private_version_check = self.check_private_version
        context.jobs.privacy_charger = self.charge_job
        context.jobs.privacy_check = self.check_job
        context.models.privacy_tags = model_privacy_tags

    def close(self) -> None:
        self.engine.close()
        self.synthesis_engine.close()

    # Create ------------------------------------------------------------------------------
    @staticmethod
    def check_private_version(spec: DataSpec, content: Path) -> None:
        """The metadata's shape, and the metadata against the rows (DataService.create calls it)."""
        privacy = spec.privacy
        assert privacy is not None
        if not isinstance(privacy.metadata, dict):
            raise InvalidSpec(f"privacy.metadata: {privacy.metadata!r} was not read; the CLI and SDK send it inline")
        check_against_data(privacy.metadata, table_file(content))

    # Budgets -----------------------------------------------------------------------------
    def _private_row(self, name: str, version: str) -> tuple[DataAssetRow, DataPrivacy]:
        row = self.data.row(name, version)
        if row.privacy is None:
            raise InvalidSpec(
                f"data asset '{row.name}' version '{row.version}' is not private (it has no privacy budget); "
                f"read its rows with kiln data download"
            )
        return row, DataPrivacy.model_validate(row.privacy)

    def _budget(self, row: DataAssetRow, privacy: DataPrivacy) -> PrivacyBudgetRow:
        budget = self.ledger.budget(row.name, row.version)
        if budget is None:  # opened on first use, from the version's own declaration
            self.ledger.open_budget(row.name, row.version, privacy.epsilon, privacy.delta)
            budget = self.ledger.budget(row.name, row.version)
        assert budget is not None
        return budget

    def budget(self, name: str, version: str) -> BudgetView:
        row, privacy = self._private_row(name, version)
        budget = self._budget(row, privacy)
        charges = [
            ChargeView(
                id=c.id,
                charged_by=c.charged_by,
                charged_at=c.charged_at,
                kind=c.kind,
                what=c.what,
                epsilon=c.epsilon,
                delta=c.delta,
            )  # fmt: skip
            for c in self.ledger.charges(row.name, row.version)
        ]
        return BudgetView(
            name=row.name, version=row.version, epsilon=budget.epsilon, delta=budget.delta,
            spent_epsilon=budget.spent_epsilon, spent_delta=budget.spent_delta,
            remaining_epsilon=_left(budget.epsilon, budget.spent_epsilon),
            remaining_delta=_left(budget.delta, budget.spent_delta), charges=charges,
        )  # fmt: skip

    # Queries -----------------------------------------------------------------------------
    def query(self, name: str, version: str, request: QueryRequest, caller: str) -> QueryAnswer:
        row, privacy = self._private_row(name, version)
        budget = self._budget(row, privacy)
        delta = request.delta if request.delta is not None else privacy.delta * DEFAULT_DELTA_SHARE
        _ensure_affordable(row, budget, request.epsilon, delta)
        assert isinstance(privacy.metadata, dict)
        columns_of(privacy.metadata)
        with self.store.local_view(row.store_key) as content:
            answer = self.engine.ask(
                {
                    "op": "query", "field": "sql", "csv": str(table_file(content)), "table": table_name(row.name),
                    "metadata": privacy.metadata, "sql": request.sql, "epsilon": request.epsilon, "delta": delta,
                }
            )  # fmt: skip
        cost = Charge(caller, "query", request.sql, float(answer["epsilon"]), float(answer["delta"]))
        charged = self.ledger.charge(row.name, row.version, cost)
        if charged is None:  # spent by others while it ran: the answer is dropped, never released
            _ensure_affordable(row, self._budget(row, privacy), cost.epsilon, cost.delta)
            raise Conflict(f"data asset '{row.name}' version '{row.version}': the budget could not pay the query")
        after = self._budget(row, privacy)
        return QueryAnswer(
            columns=answer["columns"], rows=answer["rows"], epsilon=cost.epsilon, delta=cost.delta, charge=charged.id,
            remaining_epsilon=_left(after.epsilon, after.spent_epsilon),
            remaining_delta=_left(after.delta, after.spent_delta),
        )  # fmt: skip

    # Jobs --------------------------------------------------------------------------------
    def charge_job(self, spec: ProcessJobSpec, pins: dict[str, InputPin], created_by: str | None) -> dict[str, str]:
        """Charge each private input's budget what the job declares, all or none, at submit (JobService); the
        job's tag ``kiln.privacy.charges`` records the charges (``NAME:VERSION#CHARGE``, one per input)."""
        assert spec.privacy is not None
        private = [p for p in pins.values() if getattr(p, "private", False) and isinstance(p, DataPin)]
        for pin in private:
            row, privacy = self._private_row(pin.name, pin.version)
            _ensure_affordable(row, self._budget(row, privacy), spec.privacy.epsilon, spec.privacy.delta)
        command = getattr(spec, "command", None) or spec.type
        what = f"{spec.type} job {spec.name or spec.display_name or '(unnamed)'}: {command}"[:2000]
        cost = Charge(created_by or "unknown", "job", what, spec.privacy.epsilon, spec.privacy.delta)
        charged = self.ledger.charge_all([(p.name, p.version) for p in private], cost)
        if not charged:
            raise Conflict("the privacy budget of an input was spent by others meanwhile; nothing was charged")
        return {JOB_CHARGES_TAG: ", ".join(f"{c.data_name}:{c.data_version}#{c.id}" for c in charged)}

    def check_job(self, spec: ProcessJobSpec, pins: dict[str, InputPin]) -> None:
        """What ``charge_job`` refuses, charging nothing and opening no budget (a dry run of a submit)."""
        assert spec.privacy is not None
        for pin in pins.values():
            if getattr(pin, "private", False) and isinstance(pin, DataPin):
                row, privacy = self._private_row(pin.name, pin.version)
                budget = self.ledger.budget(row.name, row.version) or PrivacyBudgetRow(
                    data_name=row.name, data_version=row.version, epsilon=privacy.epsilon, delta=privacy.delta,
                    spent_epsilon=0.0, spent_delta=0.0,
                )  # fmt: skip
                _ensure_affordable(row, budget, spec.privacy.epsilon, spec.privacy.delta)

    # Synthetic data ----------------------------------------------------------------------
    def synthesize(self, name: str, version: str, request: SynthesisRequest, caller: str) -> SynthesisAnswer:
        """Fit, sample, store; then charge; then record the version (never recorded without its charge)."""
        row, privacy = self._private_row(name, version)
        budget = self._budget(row, privacy)
        delta = request.delta if request.delta is not None else privacy.delta * DEFAULT_DELTA_SHARE
        _ensure_affordable(row, budget, request.epsilon, delta)
        if request.version is not None and self.data.assets.find(request.name, request.version):
            raise AlreadyExists(f"data asset '{request.name}' version '{request.version}' exists; name another version")
        assert isinstance(privacy.metadata, dict)
        with tempfile.TemporaryDirectory(dir=self.scratch) as scratch:
            with self.store.local_view(row.store_key) as content:
                answer = self.synthesis_engine.ask(
                    {
                        "op": "synthesize", "field": "synthesizer", "csv": str(table_file(content)),
                        "metadata": privacy.metadata, "synthesizer": request.synthesizer, "epsilon": request.epsilon,
                        "delta": delta, "rows": request.rows, "out": str(Path(scratch) / f"{request.name}.csv"),
                    }
                )  # fmt: skip
            stored = self.data.store_made(Path(scratch))
        cost = Charge(caller, "synthesis", _synthesis_what(request), float(answer["epsilon"]), float(answer["delta"]))
        charged = self.ledger.charge(row.name, row.version, cost)
        if charged is None:
            _ensure_affordable(row, self._budget(row, privacy), cost.epsilon, cost.delta)
            raise Conflict(f"data asset '{row.name}' version '{row.version}': the budget could not pay the synthesis")
        spec = _synthesis_spec(row, request, cost.delta)
        spec.tags["kiln.privacy.charge"] = str(charged.id)
        view = self.data.record_made(spec, stored, caller)
        after = self._budget(row, privacy)
        return SynthesisAnswer(
            data=view, epsilon=cost.epsilon, delta=cost.delta, charge=charged.id,
            remaining_epsilon=_left(after.epsilon, after.spent_epsilon),
            remaining_delta=_left(after.delta, after.spent_delta),
        )  # fmt: skip


def model_privacy_tags(job: JobRow, asked: dict[str, str]) -> dict[str, str]:
    """The ``privacy.*`` tags of a model that ``job`` registers (ModelService.register_job_outputs): none unless the
    job read private data and was charged; then the private versions and charges (from the job's own record), the
    epsilon and delta it declared and was charged, and the epsilon, delta and accountant its MLmodel reports
    (``kiln_version_tags``) — refused (the job fails, nothing registered) if they exceed what was declared."""
    declared = (job.spec or {}).get("privacy")
    private = [p for p in input_pins(job.pinned_inputs).values() if isinstance(p, DataPin) and p.private]
    if not private or not isinstance(declared, dict):
        return {}
    epsilon, delta = float(declared["epsilon"]), float(declared["delta"])
    tags = {
        "privacy.data": ", ".join(f"{p.name}:{p.version}" for p in private),
        "privacy.charges": str((job.spec.get("tags") or {}).get(JOB_CHARGES_TAG, "")),
        "privacy.declared_epsilon": f"{epsilon:g}", "privacy.declared_delta": f"{delta:g}",
    }  # fmt: skip
    for key, most in (("privacy.epsilon", epsilon), ("privacy.delta", delta)):
        if key not in asked:
            continue
        try:
            reported = float(asked[key])
        except ValueError:
            raise InvalidSpec(f"the model's MLmodel reports {key} {asked[key]!r}, which is not a number") from None
        if not 0 <= reported <= most * (1 + 1e-9):
            raise InvalidSpec(
                f"the model's MLmodel reports {key} {reported:g}, more than the {most:g} the job declared and was "
                f"charged: the model is not registered"
            )
        tags[key] = f"{reported:.6g}"
    if "privacy.accountant" in asked:
        tags["privacy.accountant"] = asked["privacy.accountant"]
    return tags


def _synthesis_what(request: SynthesisRequest) -> str:
    return f"{request.synthesizer}: {request.rows} rows as data asset {request.name}" + (
        f":{request.version}" if request.version else ""
    )


def _left(total: float, spent: float) -> float:
    return max(total - spent, 0.0)


def _ensure_affordable(row: DataAssetRow, budget: PrivacyBudgetRow, epsilon: float, delta: float) -> None:
    """InvalidSpec past the total, Conflict past what is left (the remaining budget in the message)."""
    where = f"data asset '{row.name}' version '{row.version}'"
    if epsilon > budget.epsilon or delta > budget.delta:
        raise InvalidSpec(
            f"epsilon {epsilon:g}, delta {delta:g}: more than {where}'s whole budget "
            f"(epsilon {budget.epsilon:g}, delta {budget.delta:g})"
        )
    left_epsilon, left_delta = _left(budget.epsilon, budget.spent_epsilon), _left(budget.delta, budget.spent_delta)
    if epsilon > left_epsilon + 1e-12 or delta > left_delta + 1e-12:
        raise Conflict(
            f"{where}: the privacy budget left is epsilon {left_epsilon:g}, delta {left_delta:g} "
            f"(of {budget.epsilon:g}, {budget.delta:g}); this asks epsilon {epsilon:g}, delta {delta:g}. Nothing was charged"
        )


def _synthesis_spec(row: DataAssetRow, request: SynthesisRequest, delta: float) -> DataSpec:
    """The synthetic version: non-private, its lineage (source, synthesizer, spend) in its tags."""
    return DataSpec(
        name=request.name, version=request.version, type="uri_file", path=f"{request.name}.csv",
        description=f"DP synthetic data ({request.synthesizer}, epsilon {request.epsilon:g}, delta {delta:g}) of "
        f"private data asset {row.name}:{row.version}",
        tags={
            "kiln.privacy.source": f"{row.name}:{row.version}", "kiln.privacy.synthesizer": request.synthesizer,
            "kiln.privacy.epsilon": str(request.epsilon), "kiln.privacy.delta": str(delta),
        },
    )  # fmt: skip
