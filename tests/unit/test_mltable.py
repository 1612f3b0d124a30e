"""MLTable folders: paths (file/folder/pattern), read_delimited and read_parquet, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from kiln import mltable
from kiln.errors import InvalidSpec


@pytest.fixture
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    return frame


def write_mltable(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLTable").write_text(text)
    return folder


def test_read_delimited_from_a_file_a_folder_and_a_pattern(tmp_path: Path, iris: pd.DataFrame) -> None:
    iris.iloc[:50].to_csv(tmp_path / "first.csv", sep=";", index=False)
    (tmp_path / "more").mkdir()
    iris.iloc[50:100].to_csv(tmp_path / "more" / "second.csv", sep=";", index=False)
    (tmp_path / "parts" / "deep").mkdir(parents=True)
    iris.iloc[100:].to_csv(tmp_path / "parts" / "deep" / "third.csv", sep=";", index=False)
    write_mltable(
        tmp_path,
        """\
$schema: https://azuremlschemas.azureedge.net/latest/MLTable.schema.json
type: mltable
paths:
  - file: ./first.csv
  - folder: ./more
  - pattern: ./parts/**/*.csv
transformations:
  - read_delimited:
      delimiter: ";"
      header: all_files_same_headers
      encoding: utf8
""",
    )
    frame = mltable.load(tmp_path)
    pd.testing.assert_frame_equal(frame, iris)
    assert mltable.load(tmp_path / "MLTable").shape == (150, 5)


def test_header_modes_and_encoding(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes("name,size\ncafé,1\n".encode("latin-1"))
    (tmp_path / "b.csv").write_bytes("thé,2\n".encode("latin-1"))
    write_mltable(
        tmp_path,
        "paths: [{file: a.csv}, {file: b.csv}]\n"
        "transformations:\n  - read_delimited: {header: from_first_file, encoding: latin1}\n",
    )
    frame = mltable.load(tmp_path)
    assert list(frame.columns) == ["name", "size"]
    assert frame["name"].tolist() == ["café", "thé"]

    write_mltable(
        tmp_path,
        "paths: [{file: b.csv}]\ntransformations:\n  - read_delimited: {header: no_header, encoding: latin1}\n",
    )
    assert list(mltable.load(tmp_path).columns) == ["Column1", "Column2"]


def test_read_parquet(tmp_path: Path, iris: pd.DataFrame) -> None:
    iris.iloc[:70].to_parquet(tmp_path / "a.parquet")
    iris.iloc[70:].to_parquet(tmp_path / "b.parquet")
    write_mltable(tmp_path, "paths:\n  - pattern: '*.parquet'\ntransformations:\n  - read_parquet\n")
    pd.testing.assert_frame_equal(mltable.load(tmp_path), iris)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("paths: [{file: missing.csv}]\n", "paths[0]: file 'missing.csv' does not exist"),
        ("paths: [{file: ../outside.csv}]\n", "points outside its folder with '..'"),
        ("paths: [{file: /etc/passwd}]\n", "is absolute"),
        ("paths: [{folder: 'a\\\\..\\\\..'}]\n", "backslash"),
        ("paths: [{pattern: '../*.csv'}]\n", "points outside its folder"),
        ("paths: [{file: '%2e%2e/outside.csv'}]\n", "%-encoded"),
        ("paths: [{file: 'https://example.org/x.csv'}]\n", "must be a path relative to the MLTable file"),
        ("paths: [{glob: '*.csv'}]\n", "expected one of file:, folder: or pattern:"),
        ("paths: []\n", "'paths' must be a non-empty list"),
        ("paths: [{file: data.csv}]\ntransformations:\n  - take: 5\n", "transformation 'take' is not supported"),
        (
            "paths: [{file: data.csv}]\ntransformations:\n  - read_delimited: {delimiter: ',', infer_column_types: true}\n",
            "read_delimited option 'infer_column_types' is not supported",
        ),
        (
            "paths: [{file: data.csv}]\ntransformations:\n  - read_delimited: {header: yes_please}\n",
            "header 'yes_please'",
        ),
        (
            "paths: [{file: data.csv}]\ntransformations:\n  - read_json_lines: {}\n",
            "(supported: read_delimited, read_parquet)",
        ),
        ("paths: [{file: data.csv}]\ncolumns: 3\n", "unknown field 'columns'"),
        ("paths: [{file: data.csv\n", "malformed YAML"),
    ],
)
def test_bad_mltables_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    folder = tmp_path / "table"
    write_mltable(folder, text)
    (folder / "data.csv").write_text("a\n1\n")
    (tmp_path / "outside.csv").write_text("a\n1\n")
    with pytest.raises(InvalidSpec, match="MLTable") as caught:
        mltable.parse(folder)
    assert message in caught.value.message


def test_a_folder_without_an_mltable_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="a file named 'MLTable'"):
        mltable.load(tmp_path)
