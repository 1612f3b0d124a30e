"""The job watcher's timeout check holds for any number a stored spec or a runner may give it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiln.jobs.lifecycle import timed_out

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("timeout", [1e30, 10**30, float("inf"), 1e308])
def test_a_huge_timeout_never_overflows_and_never_fires(timeout: float) -> None:
    with pytest.raises(OverflowError):
        START + timedelta(seconds=timeout)  # what the watcher did before: its thread died here
    assert not timed_out(START, timeout, START + timedelta(days=3650))


def test_a_timeout_fires_once_its_seconds_have_passed() -> None:
    assert not timed_out(START, 60, START + timedelta(seconds=59.9))
    assert timed_out(START, 60, START + timedelta(seconds=60))
