"""A private version's SmartNoise table metadata: its shape, and checked against the rows (clear errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.errors import InvalidSpec
from kiln.privacy.metadata import check_against_data, columns_of, table_file

METADATA = {
    "max_ids": 1,
    "pid": {"type": "int", "private_id": True},
    "sex": {"type": "string"},
    "age": {"type": "int", "lower": 18, "upper": 90},
}


def test_a_good_metadata_names_its_columns(tmp_path: Path) -> None:
    assert set(columns_of(METADATA)) == {"pid", "sex", "age"}
    data = tmp_path / "p.csv"
    data.write_text("pid,sex,age,income\n1,F,40,100.5\n2,M,,200\n")
    check_against_data(METADATA, data)  # an undeclared column (income) is allowed: it cannot be queried


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"sex": {"type": "string"}}, "needs a column with private_id: true"),
        ({**METADATA, "age": {"type": "int", "lower": 90, "upper": 18}}, "lower (90) must be a number below upper"),
        ({**METADATA, "age": {"type": "int", "lower": 18}}, "give both lower and upper"),
        ({**METADATA, "age": {"type": "number"}}, "type must be one of int, float"),
        ({**METADATA, "colour": "red"}, "'colour' is neither a column"),
        ({**METADATA, "age": {"type": "int", "bound": 3}}, "unknown option 'bound'"),
        ({"max_ids": 0, "pid": {"type": "int", "private_id": True}}, "max_ids must be a whole number"),
    ],
)
def test_a_malformed_metadata_is_refused_naming_what(metadata: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidSpec, match="privacy.metadata") as refused:
        columns_of(metadata)
    assert message in refused.value.message


def test_metadata_that_contradicts_the_data_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "p.csv"
    data.write_text("pid,sex,age\n1,F,40\n2,M,forty\n")
    with pytest.raises(InvalidSpec, match="column 'age' is declared int, but line 3 holds 'forty'"):
        check_against_data(METADATA, data)
    data.write_text("pid,gender,age\n1,F,40\n")
    with pytest.raises(InvalidSpec, match="the data has no column 'sex'"):
        check_against_data(METADATA, data)


def test_a_private_version_is_one_csv(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n")
    assert table_file(tmp_path) == tmp_path / "a.csv"
    (tmp_path / "b.csv").write_text("x\n")
    with pytest.raises(InvalidSpec, match="exactly one .csv"):
        table_file(tmp_path)
    (tmp_path / "t.parquet").write_bytes(b"")
    with pytest.raises(InvalidSpec, match="one CSV file"):
        table_file(tmp_path / "t.parquet")
