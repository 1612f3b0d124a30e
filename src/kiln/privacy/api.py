"""The privacy capability's REST operations, declared as kiln.api's are (no server imports here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from kiln.api.operation import Operation
from kiln.errors import AlreadyExists, Conflict, Forbidden, InvalidSpec, MissingExtra, NotFound
from kiln.specs.bounded import Text
from kiln.specs.data import DATA_NAME_PATTERN, DATA_VERSION_PATTERN, DataAssetView
from kiln.specs.job import StrictModel
from kiln.specs.roles import Role


class QueryRequest(StrictModel):
    sql: Text = Field(description="One SELECT of aggregates over the version's table (named as the asset).")
    epsilon: float = Field(gt=0, le=100, description="What the whole query may cost, in epsilon.")
    delta: float | None = Field(
        None, ge=0, lt=1, description="What it may cost in delta (default: a tenth of the version's total delta)."
    )


class ChargeView(BaseModel):
    id: int
    charged_by: str
    charged_at: datetime
    kind: str  # query, synthesis, job
    what: str
    epsilon: float
    delta: float


class BudgetView(BaseModel):
    name: str
    version: str
    epsilon: float
    delta: float
    spent_epsilon: float
    spent_delta: float
    remaining_epsilon: float
    remaining_delta: float
    accountant: str = "sequential composition of (epsilon, delta): charges add up"
    charges: list[ChargeView] = Field(default_factory=list, description="Every charge, oldest first.")


class QueryAnswer(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    epsilon: float = Field(description="What the query was charged (SmartNoise's cost of its mechanisms).")
    delta: float
    charge: int = Field(description="The ledger's charge id.")
    remaining_epsilon: float
    remaining_delta: float


class SynthesisRequest(StrictModel):
    synthesizer: Literal["mst", "aim", "mwem"] = Field(description="smartnoise-synth's synthesizer.")
    epsilon: float = Field(gt=0, le=100, description="What fitting it may cost, in epsilon (all of it is spent).")
    delta: float | None = Field(
        None, ge=0, lt=1, description="What it may cost in delta (default: a tenth of the version's total delta)."
    )
    rows: int = Field(ge=1, le=1_000_000, description="How many synthetic rows to sample.")
    name: str = Field(pattern=DATA_NAME_PATTERN, description="The new, non-private data asset.")
    version: str | None = Field(None, pattern=DATA_VERSION_PATTERN, description="Omitted: the next integer.")


class SynthesisAnswer(BaseModel):
    data: DataAssetView = Field(description="The synthetic version: non-private, with its lineage in its tags.")
    epsilon: float
    delta: float
    charge: int
    remaining_epsilon: float
    remaining_delta: float


QUERY = Operation(
    "privacy.query", "POST", "/api/v1/privacy/data/{name}/versions/{version}/query",
    summary="A differentially private answer to a SQL query over a private data version",
    description="Run by the server through SmartNoise SQL; the answer is released only with its charge recorded in "
    "the version's ledger (one transaction). A query whose cost exceeds what is left is refused (409) with the "
    "remaining budget; a query refused or failed charges nothing.",
    role=Role.CONTRIBUTOR, action="querying private data",
    body=QueryRequest, response=QueryAnswer, errors=(NotFound, InvalidSpec, Conflict, MissingExtra),
)  # fmt: skip
BUDGET = Operation(
    "privacy.budget", "GET", "/api/v1/privacy/data/{name}/versions/{version}/budget",
    summary="A private data version's privacy budget and every charge against it",
    role=Role.READER, action="reading privacy budgets",
    response=BudgetView, errors=(NotFound, InvalidSpec, Forbidden),
)  # fmt: skip
SYNTHESIZE = Operation(
    "privacy.synthesize", "POST", "/api/v1/privacy/data/{name}/versions/{version}/synthesize",
    summary="A DP synthetic data version made from a private data version",
    description="smartnoise-synth fits the synthesizer on the declared columns (never the private id) with the whole "
    "epsilon and samples ``rows`` rows into a new, non-private uri_file version (tags ``kiln.privacy.*``: its source, "
    "synthesizer, epsilon, delta, charge). Charged like a query: refused or failed, nothing is charged or made.",
    role=Role.CONTRIBUTOR, action="synthesising data from private data",
    body=SynthesisRequest, response=SynthesisAnswer, status_code=201,
    errors=(NotFound, InvalidSpec, Conflict, AlreadyExists, MissingExtra),
)  # fmt: skip
