"""Per-module time budgets (``tests/budgets.toml``): a module that takes longer fails the session, loudly.

Each test's setup, call and teardown durations are added to its module's total (on the main
process: under pytest-xdist the workers' reports arrive there with their durations, so the
total is the module's cost whichever worker ran it, and does not depend on how the work was
shared out). A session-scoped fixture (the shared workspace server, the PostgreSQL cluster, the
S3 server) is set up inside the setup of whichever test needs it first, on each worker; its
set-up time is taken out of that test's module and shown on a line of its own, so a module is
not charged for a server it happened to start for everyone.

At the end a table lists every module over its budget, and the session fails (exit code 1)
even if every test passed. Modules that ran only in part (``-k``, a single test) are held to
the same budget: a part that exceeds it is over budget too. ``--no-budgets`` turns the check off
(for a debugger, or a machine much slower than CI's).

Budgets hold for a machine doing nothing but this run. On a machine that other work keeps busy
(the 1-minute load average per core, sampled at each test report, above ``nominal_load_per_core``
in budgets.toml), a module's budget stretches by the same factor, and the table says so: the check
is for tests that became slower, not for a neighbour that took the cores.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BUDGET_FILE = Path(__file__).with_name("budgets.toml")
SESSION_FIXTURES = "(session fixtures: shared servers, set up once per worker)"
SESSION_SECONDS = "kiln_session_fixture_seconds"  # a user property on a setup report


@dataclass
class Budgets:
    modules: dict[str, float]
    unit_default: float
    integration_default: float
    nominal_load_per_core: float = 1.5  # what this run itself puts on CI's cores (two workers and their servers)
    floor: float = 15.0  # no module's budget is less: a starved worker loses seconds to its neighbours

    @classmethod
    def load(cls, path: Path = BUDGET_FILE) -> Budgets:
        data = tomllib.loads(path.read_text())
        defaults = data.get("defaults", {})
        return cls(
            modules={str(k): float(v) for k, v in data.get("modules", {}).items()},
            unit_default=float(defaults.get("unit", 30)),
            integration_default=float(defaults.get("integration", 120)),
            nominal_load_per_core=float(defaults.get("nominal_load_per_core", 1.5)),
            floor=float(defaults.get("floor", 15)),
        )

    def seconds_for(self, module: str) -> float:
        if module in self.modules:
            return max(self.modules[module], self.floor)
        return self.unit_default if "/unit/" in f"/{module}" else self.integration_default


@dataclass
class ModuleClock:
    """Seconds spent per module, from the test reports."""

    spent: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    tests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    load: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # load per core, per report

    def add(self, report: pytest.TestReport) -> None:
        module = report.nodeid.split("::", 1)[0]
        self.load[module].append(os.getloadavg()[0] / (os.cpu_count() or 1))
        shared = sum(float(value) for key, value in report.user_properties if key == SESSION_SECONDS)
        self.spent[module] += max(report.duration - shared, 0.0)
        self.spent[SESSION_FIXTURES] += shared
        if report.when == "call":
            self.tests[module] += 1

    def stretch(self, module: str, budgets: Budgets) -> float:
        """How much longer than its budget a module may take because other work kept the machine busy."""
        samples = self.load.get(module) or [0.0]
        return max(1.0, sum(samples) / len(samples) / budgets.nominal_load_per_core)

    def allowed(self, module: str, budgets: Budgets) -> float:
        return budgets.seconds_for(module) * self.stretch(module, budgets)

    def over_budget(self, budgets: Budgets) -> list[tuple[str, float, float]]:
        return sorted(
            (
                (module, seconds, self.allowed(module, budgets))
                for module, seconds in self.spent.items()
                if module != SESSION_FIXTURES and seconds > self.allowed(module, budgets)
            ),
            key=lambda row: row[1] - row[2],
            reverse=True,
        )


_clock_key = pytest.StashKey[ModuleClock]()
_session_seconds: dict[str, float] = defaultdict(float)  # per test, on this (worker) process
_session_depth = 0  # a session fixture that needs another: count the outer one only
_config: pytest.Config | None = None  # pytest_runtest_logreport is not given it


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--no-budgets", action="store_true", help="do not fail modules over their tests/budgets.toml time")


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config
    config.stash[_clock_key] = ModuleClock()


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
    global _session_depth
    if fixturedef.scope != "session":
        yield
        return
    started = time.perf_counter()
    _session_depth += 1
    try:
        yield
    finally:
        _session_depth -= 1
    item = getattr(request, "_pyfuncitem", None)
    if item is not None and _session_depth == 0:
        _session_seconds[item.nodeid] += time.perf_counter() - started


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    seconds = _session_seconds.pop(item.nodeid, 0.0) if call.when == "setup" else 0.0
    if seconds:  # a new list: the report shares the item's, which the call and teardown reports get too
        report.user_properties = [*report.user_properties, (SESSION_SECONDS, seconds)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _config
    if config is None or hasattr(config, "workerinput"):  # a worker: the main process adds up
        return
    config.stash[_clock_key].add(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput") or config.getoption("--no-budgets"):
        return
    if config.stash[_clock_key].over_budget(Budgets.load()) and exitstatus in (0, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    clock = config.stash[_clock_key]
    if not clock.spent:  # nothing ran (--collect-only, nothing selected)
        return
    budgets = Budgets.load()
    over = clock.over_budget(budgets)
    write = terminalreporter.write_line
    terminalreporter.section("time per module (tests/budgets.toml)")
    rows = sorted(clock.spent.items(), key=lambda row: -row[1])
    for module, seconds in rows:
        limit = "" if module == SESSION_FIXTURES else f"budget {budgets.seconds_for(module):6g} s"
        stretch = clock.stretch(module, budgets) if module != SESSION_FIXTURES else 1.0
        busy = f"  (machine busy: budget x{stretch:.2f})" if stretch > 1.0 else ""
        write(f"{seconds:8.1f} s  {limit:>15}  {clock.tests.get(module, 0):4d} tests  {module}{busy}")
    if over and not config.getoption("--no-budgets"):
        terminalreporter.section("MODULES OVER THEIR TIME BUDGET", sep="!", red=True, bold=True)
        for module, seconds, limit in over:
            write(f"{module}: {seconds:.1f} s, budget {limit:.0f} s (+{seconds - limit:.1f} s)", red=True, bold=True)
        write(
            "A module over its budget fails the run: make its set-up cheaper (a shared module server, a smaller "
            "training through --set, waits on events), or raise its budget in tests/budgets.toml and say why.",
            red=True,
        )
