"""kiln's table rows as JSON records and back, column by column.

Every column is exported, so a column added later (``created_by``, ``server_id``…) travels
without a change here; on import, a column the target does not know is dropped and one the
archive lacks takes its default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from kiln.store.tables import Base, UTCDateTime

RowT = TypeVar("RowT", bound=Base)


def row_record(row: Base) -> dict[str, Any]:
    record = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        record[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return record


def record_row(cls: type[RowT], record: dict[str, Any], **overrides: Any) -> RowT:
    """A new row of ``cls`` from ``record``; ``overrides`` win (for what must not travel)."""
    values: dict[str, Any] = {}
    for column in cls.__table__.columns:
        if column.key in overrides:
            values[column.key] = overrides[column.key]
        elif column.key in record:
            value = record[column.key]
            if isinstance(column.type, UTCDateTime) and isinstance(value, str):
                value = datetime.fromisoformat(value)
            values[column.key] = value
    return cls(**values)
