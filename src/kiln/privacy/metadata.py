"""A private version's SmartNoise table metadata: its shape checked, and checked against the version's rows.

The metadata is one table's SmartNoise metadata: table options (``max_ids``, ``row_privacy``…) and one mapping
per column (``type``; ``lower`` and ``upper`` for numbers; ``private_id``). A column of the data the metadata
does not declare cannot be queried; a declared column the data lacks, a type the values contradict, or bounds
that are not bounds are refused when the version is created."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from kiln.errors import InvalidSpec

COLUMN_TYPES = ("int", "float", "string", "boolean", "datetime")
TABLE_OPTIONS = frozenset(
    {"max_ids", "row_privacy", "sample_max_ids", "censor_dims", "clamp_counts", "clamp_columns", "use_dpsu", "rows"}
)
COLUMN_OPTIONS = frozenset({"type", "lower", "upper", "private_id", "nullable", "missing_value", "sensitivity"})
CHECKED_ROWS = 100_000  # rows read to check the metadata against the data at create time
FIELD = "privacy.metadata"


def columns_of(metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The columns the metadata declares, by name (shape checked)."""
    problems: list[str] = []
    columns: dict[str, dict[str, Any]] = {}
    for key, value in metadata.items():
        if isinstance(value, dict):
            columns[str(key)] = value
            problems += _column_problems(str(key), value)
        elif key not in TABLE_OPTIONS:
            problems.append(
                f"'{key}' is neither a column (a mapping with a type) nor a table option ({', '.join(sorted(TABLE_OPTIONS))})"
            )
    if not columns:
        problems.append("declares no column: give each column a mapping such as age: {type: int, lower: 0, upper: 120}")
    if "max_ids" in metadata and (not isinstance(metadata["max_ids"], int) or metadata["max_ids"] < 1):
        problems.append(f"max_ids must be a whole number ≥ 1, not {metadata['max_ids']!r}")
    if metadata.get("row_privacy") is not True and not any(c.get("private_id") for c in columns.values()):
        problems.append(
            "needs a column with private_id: true (the person's id), or row_privacy: true (one row per person)"
        )
    if problems:
        raise InvalidSpec(f"{FIELD}: " + "; ".join(problems))
    return columns


def _column_problems(name: str, column: dict[str, Any]) -> list[str]:
    problems = [f"column '{name}': unknown option '{k}'" for k in column if k not in COLUMN_OPTIONS]
    kind = column.get("type")
    if kind not in COLUMN_TYPES:
        problems.append(f"column '{name}': type must be one of {', '.join(COLUMN_TYPES)}, not {kind!r}")
    lower, upper = column.get("lower"), column.get("upper")
    if (lower is None) != (upper is None):
        problems.append(f"column '{name}': give both lower and upper, or neither")
    elif lower is not None:
        if kind not in ("int", "float"):
            problems.append(f"column '{name}': bounds are for int and float columns, and it is {kind}")
        elif not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lower, upper)) or lower >= upper:
            problems.append(f"column '{name}': lower ({lower!r}) must be a number below upper ({upper!r})")
    return problems


def table_file(content: Path) -> Path:
    """The CSV file of a version's content (a file, or a folder holding exactly one)."""
    if content.is_file():
        found = [content]
    else:
        found = sorted(p for p in content.rglob("*") if p.is_file() and p.suffix.lower() == ".csv")
    if len(found) != 1 or found[0].suffix.lower() != ".csv":
        raise InvalidSpec(
            f"privacy: a private version is one CSV file (a uri_file, or a folder holding exactly one .csv); found "
            f"{', '.join(p.name for p in found) or 'none'}"
        )
    return found[0]


def check_against_data(metadata: dict[str, Any], path: Path) -> None:
    """InvalidSpec naming each column whose declaration the CSV at ``path`` contradicts."""
    columns = columns_of(metadata)
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None) or []
        missing = [name for name in columns if name not in header]
        if missing:
            raise InvalidSpec(
                f"{FIELD}: the data has no column {', '.join(repr(m) for m in missing)} (its columns: {', '.join(header)})"
            )
        positions = {name: header.index(name) for name in columns}
        problems: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            if line > CHECKED_ROWS:
                break
            for name, at in positions.items():
                if name not in problems and at < len(row) and row[at] != "":
                    if _contradicts(columns[name]["type"], row[at]):
                        problems[name] = (
                            f"column '{name}' is declared {columns[name]['type']}, but line {line} holds {row[at]!r}"
                        )
    if problems:
        raise InvalidSpec(f"{FIELD} contradicts the data: " + "; ".join(problems.values()))


def _contradicts(kind: str, text: str) -> bool:
    try:
        if kind == "int":
            int(text)
        elif kind == "float":
            float(text)
        elif kind == "boolean" and text.strip().lower() not in ("true", "false", "0", "1"):
            return True
    except ValueError:
        return True
    return False
