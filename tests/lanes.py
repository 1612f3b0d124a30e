"""Which lane each test runs in, decided from the fixtures it uses, and how pytest-xdist shares the tests out.

- ``slow``: the test uses, directly or through other fixtures, a fixture made with :func:`server_fixture`
  (one that starts a server process: a workspace server, a scoring replica, PostgreSQL, moto's S3
  server, a Ray cluster). The collection hook below adds the mark; no test is marked slow by hand.
  Every process starter in ``tests/`` calls :func:`require_slow_lane`, so a test that starts a
  server without such a fixture fails at once with what to change, instead of slipping into the
  fast lane.
- ``smoke``: a few quick end-to-end tests on the shared workspace server, marked by hand; the fast
  lane (``-m "not slow or smoke"``, ``scripts/test.sh --fast``) runs them with the unit tests.
- xdist: each worker is a process with its own session fixtures (its own shared workspace server,
  PostgreSQL cluster, S3 server; every port is a free one and every home a temporary folder).
  ``--dist loadfile`` keeps each module on one worker, so a module server starts once and a module's
  tests run in their order. (``--dist loadgroup`` with per-test groups would share out more finely, but
  pytest-xdist 3.8 marks a group by rewriting ``Item._nodeid``, which pytest 9 no longer reads: the
  groups are silently ignored.) Work is handed out in the order of the collection, which the hook
  below sorts by the module budgets in ``tests/budgets.toml`` (longest first; ``--no-loadscope-reorder``
  keeps that order), so that the long modules do not start last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])

SERVER_MARK = "starts_server"  # an attribute set on the fixture's function
_current_item: pytest.Item | None = None


def server_fixture(function: F | None = None, **kwargs: Any) -> Any:
    """``pytest.fixture`` (bare, or with its keywords) for a fixture that starts a server process: every test
    that uses it, directly or through another fixture, is in the slow lane."""

    def decorate(function: F) -> F:
        setattr(function, SERVER_MARK, True)
        return pytest.fixture(**kwargs)(function)  # type: ignore[no-any-return]

    return decorate(function) if function is not None else decorate


def _fixture_definitions(item: pytest.Item) -> list[Any]:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    return [definitions[-1] for definitions in info.name2fixturedefs.values() if definitions]


def starts_a_server(item: pytest.Item) -> bool:
    return any(getattr(definition.func, SERVER_MARK, False) for definition in _fixture_definitions(item))


def module_of(nodeid: str) -> str:
    """``tests/x/test_y.py`` for ``tests/x/test_y.py::test_z[p]``."""
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before -m reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if starts_a_server(item):
            item.add_marker(pytest.mark.slow)
    from tests.budgets import Budgets

    budgets = Budgets.load()
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-budgets.seconds_for(module_of(item.nodeid)), order[id(item)]))


def pytest_runtest_setup(item: pytest.Item) -> None:
    global _current_item
    _current_item = item


def pytest_runtest_teardown(item: pytest.Item) -> None:
    global _current_item
    _current_item = item


def require_slow_lane(what: str) -> None:
    """Fail a test that starts ``what`` (a server process) without being in the slow lane."""
    item = _current_item
    if item is not None and item.get_closest_marker("slow") is None:
        pytest.fail(
            f"{item.nodeid} starts {what} but is not in the slow lane: start it from a fixture made with "
            "tests.lanes.server_fixture (or use one, e.g. `workspace`), so that the collection marks the test slow",
            pytrace=False,
        )
