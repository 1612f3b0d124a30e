"""Differential privacy: private data versions with a privacy budget, a ledger that charges every use of it, and
DP queries answered by the server (the analyst never sees rows).

- a data version's ``privacy: {epsilon, delta, metadata}`` (``kiln.specs.data.DataPrivacy``) makes it private:
  its rows are for owners only (``kiln.services.data.ensure_raw_access``, ``JobService``'s private inputs);
- ``metadata``: the SmartNoise table metadata checked at create, and against the rows;
- ``engine``: SmartNoise SQL and OpenDP in their own environment, driven over stdin/stdout (``engine_process``);
- ``service``: queries answered and charged in the ledger (``kiln.store.privacy``), budgets;
- ``api`` + ``router``: REST; ``sdk``: ``Client().privacy``; ``cli``: ``kiln privacy query|synthesize|budget``;
  ``studio``: the private versions and each one's budget and ledger in kiln studio.
"""

from __future__ import annotations

from kiln.capabilities import Capability, CliCommand

CAPABILITY = Capability(
    name="privacy",
    summary="differential privacy: private data versions, a privacy-budget ledger, DP queries (SmartNoise SQL)",
    commands=(
        CliCommand("privacy", "kiln.privacy.cli:app", "Differential privacy: DP queries over private data, budgets."),
    ),
    api="kiln.privacy.api",
    router="kiln.privacy.router:privacy_router",
    service="kiln.privacy.service:PrivacyService",
    studio_pages="kiln.privacy.studio:PAGES",
)

__all__ = ["CAPABILITY"]
