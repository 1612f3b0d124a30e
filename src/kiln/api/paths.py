"""Paths of the REST API that a client reaches without the operations' models (``kiln.sdk.job_rows``: a job list
drawn as plain rows, no pydantic). The operations (``kiln.api.jobs`` …) declare their paths with these; nothing
here imports pydantic."""

from __future__ import annotations

API_PREFIX = "/api/v1"
JOBS = f"{API_PREFIX}/jobs"
"""``api.jobs.CREATE`` and ``api.jobs.LIST``."""
UPLOADS = f"{API_PREFIX}/uploads"
"""``api.uploads.CREATE``."""
