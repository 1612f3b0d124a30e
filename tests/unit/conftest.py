"""Unit tests share one process: what one test registers (job kinds, capabilities) is undone after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kiln.capabilities import registry as capability_registry
from kiln.specs import job_kinds


@pytest.fixture(autouse=True)
def _registries_as_they_were() -> Iterator[None]:
    kinds, loaded = dict(job_kinds._kinds), dict(capability_registry._loaded)
    yield
    job_kinds._kinds.clear()
    job_kinds._kinds.update(kinds)
    capability_registry._loaded.clear()
    capability_registry._loaded.update(loaded)
