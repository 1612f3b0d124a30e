"""The sweep loop cancels the trials it read as running; one that ended meanwhile is left alone (the job service
answers Conflict), so the sweep ends with its own reason, not with that refusal (seen once on a loaded machine)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kiln.errors import Conflict
from kiln.sweeps.service import SweepService, Trial


class Jobs:
    def __init__(self, ended: set[str]) -> None:
        self.ended, self.canceled = ended, []  # type: ignore[var-annotated]

    def cancel(self, name: str) -> None:
        if name in self.ended:
            raise Conflict(f"job '{name}' has already ended (completed); there is nothing to cancel")
        self.canceled.append(name)


def _trial(name: str, cancel_requested: bool = False) -> Trial:
    return Trial(SimpleNamespace(name=name, cancel_requested=cancel_requested), {}, {}, None, [])  # type: ignore[arg-type]


def test_a_trial_that_ended_before_its_cancel_is_skipped_and_the_others_are_canceled() -> None:
    jobs = Jobs(ended={"s_1"})
    service: Any = SweepService.__new__(SweepService)
    service.jobs = jobs
    service._cancel([_trial("s_0"), _trial("s_1"), _trial("s_2"), _trial("s_3", cancel_requested=True)])
    assert jobs.canceled == ["s_0", "s_2"]


def test_other_refusals_of_a_cancel_still_surface() -> None:
    class Refusing(Jobs):
        def cancel(self, name: str) -> None:
            raise PermissionError(name)

    service: Any = SweepService.__new__(SweepService)
    service.jobs = Refusing(set())
    with pytest.raises(PermissionError):
        service._cancel([_trial("s_0")])
