"""``Client().privacy``: DP queries and budgets of private data versions, over REST."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiln.privacy import api

if TYPE_CHECKING:
    from kiln.sdk.rest import RestClient


class PrivacyOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def query(self, name: str, version: str, sql: str, epsilon: float, delta: float | None = None) -> api.QueryAnswer:
        """A differentially private answer to ``sql`` over the private version, charged to its budget."""
        body = api.QueryRequest(sql=sql, epsilon=epsilon, delta=delta).model_dump(exclude_none=True)
        return self._rest.call(api.QUERY, name=name, version=version, json=body)

    def synthesize(
        self, name: str, version: str, *, synthesizer: str, epsilon: float, rows: int, to: str,
        to_version: str | None = None, delta: float | None = None,
    ) -> api.SynthesisAnswer:  # fmt: skip
        """A DP synthetic, non-private data version ``to`` made from the private version, charged to its budget."""
        body = api.SynthesisRequest.model_validate(
            {
                "synthesizer": synthesizer,
                "epsilon": epsilon,
                "delta": delta,
                "rows": rows,
                "name": to,
                "version": to_version,
            }
        ).model_dump(exclude_none=True)
        return self._rest.call(api.SYNTHESIZE, name=name, version=version, json=body)

    def budget(self, name: str, version: str) -> api.BudgetView:
        """The version's budget: total, spent, remaining, and every charge (who, when, what, epsilon, delta)."""
        return self._rest.call(api.BUDGET, name=name, version=version)
