"""The sign-in page sends a browser only to paths on this server."""

from __future__ import annotations

import pytest

from kiln.studio.signin import HOME, safe_next


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example", "//evil.example", "https://evil.example", "/\\/evil.example", "\\\\evil.example",
        "/\t/evil.example", "/\n/evil.example", "evil.example", "javascript:alert(1)", "/" + "a" * 3000,
    ],
)  # fmt: skip
def test_login_redirects_only_to_local_paths(target: str) -> None:
    assert safe_next(target) == HOME


@pytest.mark.parametrize("target", ["/mlflow/", "/mlflow/#/experiments/1", "/api/v1/jobs?limit=5", "/"])
def test_local_paths_are_kept(target: str) -> None:
    assert safe_next(target) == target
