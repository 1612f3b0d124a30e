"""The one reader of Authorization headers (REST, /mlflow and the gateway): RFC 7235's case-insensitive
scheme, one bearer credential, nothing else."""

from __future__ import annotations

import pytest

from kiln.authorization import bearer_credential


@pytest.mark.parametrize(
    ("header", "credential"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("bEaReR abc", "abc"),
        ("Bearer   abc", "abc"),  # 1*SP between scheme and credential
        ("Bearer abc ", "abc"),  # trailing whitespace is the HTTP parser's to drop
        (b"Bearer abc", "abc"),
        (b"bearer k-_.~+/=", "k-_.~+/="),  # token68 characters
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("abc", None),
        ("Basic abc", None),
        ("Token abc", None),
        ("Bearerabc", None),
        ("Bearer\tabc", None),  # the separator is a space
        ("Bearer abc def", None),  # one credential, not two
        ("Bearers abc", None),
    ],
)
def test_bearer_credential(header: str | bytes | None, credential: str | None) -> None:
    assert bearer_credential(header) == credential
