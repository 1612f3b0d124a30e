"""Filters of a job list by tag, as every door writes them: ``KEY=VALUE`` (the job's tag KEY has that value) or
``KEY`` (the job has the tag KEY, whatever its value). The REST query (``tag=…``, repeated), the SDK
(``tags={KEY: VALUE or None}``), ``kiln job list --tag`` and kiln studio's job list read them here. Standard library
only: ``kiln job list``'s fast front reads them too."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kiln.errors import InvalidSpec

TagFilters = dict[str, str | None]  # key -> the value it must have; None: any value (the job has the tag)


def parse_tag_filters(texts: Iterable[str], field: str = "tag") -> TagFilters:
    """``["team=vision", "reviewed"]`` → ``{"team": "vision", "reviewed": None}``; InvalidSpec naming ``field`` for
    one without a key."""
    filters: TagFilters = {}
    for text in texts:
        key, equals, value = text.partition("=")
        if not key.strip():
            raise InvalidSpec(
                f"{field}: {text!r} names no tag; write KEY=VALUE (the tag has that value) or KEY (the job has the tag)"
            )
        filters[key] = value if equals else None
    return filters


def tag_query(filters: Mapping[str, str | None]) -> list[str]:
    """The REST query values of ``filters`` (``tag=KEY=VALUE`` or ``tag=KEY``)."""
    for key in filters:
        if not key.strip() or "=" in key:
            raise InvalidSpec(f"tags: {key!r} is not a tag key a job list can filter by (empty, or with '=')")
    return [key if value is None else f"{key}={value}" for key, value in filters.items()]
