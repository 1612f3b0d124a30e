"""The per-module time budgets (tests/budgets.py): over budget fails; a busy machine stretches budgets, visibly."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from tests.budgets import Budgets, ModuleClock

BUDGETS = Budgets(modules={"tests/integration/x/test_a.py": 10.0}, unit_default=30, integration_default=120, floor=5)


def _report(seconds: float) -> SimpleNamespace:
    return SimpleNamespace(
        nodeid="tests/integration/x/test_a.py::test_t", duration=seconds, user_properties=[], when="call"
    )


def _clock(monkeypatch: pytest.MonkeyPatch, load_per_core: float, seconds: float) -> ModuleClock:
    monkeypatch.setattr(os, "getloadavg", lambda: (load_per_core * (os.cpu_count() or 1), 0.0, 0.0))
    clock = ModuleClock()
    clock.add(_report(seconds))  # type: ignore[arg-type]
    return clock


def test_a_module_over_its_budget_on_a_quiet_machine_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _clock(monkeypatch, load_per_core=1.0, seconds=12.0)
    assert clock.over_budget(BUDGETS) == [("tests/integration/x/test_a.py", 12.0, 10.0)]


def test_a_busy_machine_stretches_the_budget_by_its_load(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = _clock(monkeypatch, load_per_core=3.0, seconds=12.0)  # twice the nominal 1.5: twice the budget
    assert busy.stretch("tests/integration/x/test_a.py", BUDGETS) == pytest.approx(2.0)
    assert busy.over_budget(BUDGETS) == []
    assert _clock(monkeypatch, load_per_core=3.0, seconds=25.0).over_budget(BUDGETS) != []  # not without limit


def test_no_budget_is_under_the_floor_whatever_its_line_says() -> None:
    budgets = Budgets(modules={"tests/unit/x/test_tiny.py": 5.0, "tests/unit/x/test_big.py": 40.0},
                      unit_default=30, integration_default=120, floor=15)  # fmt: skip
    assert budgets.seconds_for("tests/unit/x/test_tiny.py") == 15
    assert budgets.seconds_for("tests/unit/x/test_big.py") == 40
    assert Budgets.load().floor >= 15  # the file keeps one
