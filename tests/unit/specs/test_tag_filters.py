"""A job list's tag filters (``kiln.specs.tag_filters``): ``KEY=VALUE`` and ``KEY`` as every door writes them, a
filter without a key refused naming the option it came from."""

from __future__ import annotations

import pytest

from kiln.errors import InvalidSpec
from kiln.specs.tag_filters import parse_tag_filters, tag_query


def test_key_value_and_bare_keys_read_and_written_back() -> None:
    filters = parse_tag_filters(["team=vision", "reviewed", "note=a=b", "empty="])
    assert filters == {"team": "vision", "reviewed": None, "note": "a=b", "empty": ""}
    assert tag_query(filters) == ["team=vision", "reviewed", "note=a=b", "empty="]


@pytest.mark.parametrize("text", ["", "=vision", " =x"])
def test_a_filter_without_a_key_is_refused_naming_the_option(text: str) -> None:
    with pytest.raises(InvalidSpec, match=r"--tag: .* names no tag; write KEY=VALUE .* or KEY"):
        parse_tag_filters([text], "--tag")


@pytest.mark.parametrize("key", ["", "a=b"])
def test_an_sdk_key_that_no_query_can_say_is_refused(key: str) -> None:
    with pytest.raises(InvalidSpec, match="not a tag key"):
        tag_query({key: "x"})
