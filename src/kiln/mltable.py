"""MLTable folders: an ``MLTable`` file naming data files and how to read them, loaded as a pandas DataFrame.

The subset of Azure ML's format that kiln reads::

    paths:
      - file: ./train.csv          # one file
      - folder: ./more             # every file below the folder
      - pattern: ./parts/*.csv     # a glob (``**`` reaches into sub-folders)
    transformations:
      - read_delimited: {delimiter: ",", header: all_files_same_headers, encoding: utf8}
      # or: - read_parquet

Paths are relative to the MLTable file and must stay inside its folder. ``parse`` needs
only PyYAML (the server validates with it); ``load`` imports pandas when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.artifacts.references import inside, is_inside
from kiln.errors import InvalidSpec
from kiln.specs.yaml_source import load_yaml

if TYPE_CHECKING:
    import pandas as pd

MLTABLE_FILE = "MLTable"
PATH_KINDS = ("file", "folder", "pattern")
HEADERS = ("all_files_same_headers", "from_first_file", "no_header", "all_files_different_headers")
ENCODINGS = {
    "utf8": "utf-8",
    "utf8bom": "utf-8-sig",
    "ascii": "ascii",
    "latin1": "latin-1",
    "iso88591": "iso-8859-1",
    "windows1252": "cp1252",
    "utf16": "utf-16",
    "utf32": "utf-32",
}
READERS = ("read_delimited", "read_parquet")
TOP_LEVEL_FIELDS = ("$schema", "type", "paths", "transformations")


@dataclass(frozen=True)
class DelimitedOptions:
    delimiter: str = ","
    header: str = "all_files_same_headers"
    encoding: str = "utf8"


@dataclass
class MLTableDefinition:
    """What an MLTable file says: the files it resolves to and the reader that reads them."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    reader: str = "read_delimited"
    delimited: DelimitedOptions = field(default_factory=DelimitedOptions)


def _mltable_file(path: Path, label: str | None) -> Path:
    file = path / MLTABLE_FILE if path.is_dir() else path
    if not file.is_file() or file.name != MLTABLE_FILE:
        where = f"{path}: " if label is None else ""
        raise InvalidSpec(
            f"{where}an mltable is a folder with a file named '{MLTABLE_FILE}' at its top; none was found"
        )
    return file


def parse(path: str | Path, label: str | None = None) -> MLTableDefinition:
    """Read and check an MLTable (the folder or the file itself); InvalidSpec says what is wrong.

    ``label`` stands for the MLTable file in messages (the server does not show its own paths).
    """
    file = _mltable_file(Path(path), label)
    shown = label or str(file)
    try:
        text = file.read_text()
    except UnicodeDecodeError as exc:
        raise InvalidSpec(f"{shown}: not valid YAML: {exc}") from exc
    data = load_yaml(text, shown)[1] or {}
    if not isinstance(data, dict):
        raise InvalidSpec(f"{shown}: expected a mapping with 'paths' and 'transformations'")
    unknown = sorted(set(map(str, data)) - set(TOP_LEVEL_FIELDS))
    if unknown:
        raise InvalidSpec(f"{shown}: unknown field '{unknown[0]}' (an MLTable has {', '.join(TOP_LEVEL_FIELDS)})")
    definition = MLTableDefinition(folder=file.parent)
    definition.files = _resolve_paths(file, shown, data.get("paths"))
    _read_transformations(shown, data.get("transformations"), definition)
    return definition


def _resolve_paths(file: Path, shown: str, entries: Any) -> list[Path]:
    if not isinstance(entries, list) or not entries:
        raise InvalidSpec(f"{shown}: 'paths' must be a non-empty list of file:, folder: or pattern: entries")
    base = file.parent.resolve()
    found: list[Path] = []
    for index, entry in enumerate(entries):
        where = f"{shown}: paths[{index}]"
        if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in PATH_KINDS:
            raise InvalidSpec(f"{where}: expected one of file:, folder: or pattern: with a relative path")
        kind, value = next(iter(entry.items()))
        text = str(value)
        if "://" in text:
            raise InvalidSpec(f"{where}: '{text}' must be a path relative to the MLTable file (URIs are not read)")
        matches = _expand(base, kind, text, where)
        # the one resolver: by name above, here what a pattern or a folder found (symbolic links resolved)
        if any(not is_inside(base, match) for match in matches):
            raise InvalidSpec(f"{where}: '{text}' points outside the MLTable's folder")
        if not matches:
            raise InvalidSpec(f"{where}: {kind} '{text}' does not exist in the MLTable's folder")
        found.extend(m for m in matches if m not in found)
    return found


def _expand(base: Path, kind: str, text: str, where: str) -> list[Path]:
    if kind == "file":
        target = inside(base, text, where)
        return [target] if target.is_file() else []
    if kind == "folder":
        target = inside(base, text, where)
        return sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else []
    inside(base, text.replace("*", "x").replace("?", "x"), where)  # the pattern's own name stays inside
    pattern = text[2:] if text.startswith("./") else text
    return sorted(p for p in base.glob(pattern) if p.is_file())


def _read_transformations(file: str, steps: Any, definition: MLTableDefinition) -> None:
    if steps is None:
        return  # Azure's default reader is delimited text
    if not isinstance(steps, list):
        raise InvalidSpec(f"{file}: 'transformations' must be a list")
    for index, step in enumerate(steps):
        name, options = (step, {}) if isinstance(step, str) else _single_item(file, index, step)
        where = f"{file}: transformations[{index}]"
        if name not in READERS:
            raise InvalidSpec(
                f"{where}: transformation '{name}' is not supported by kiln (supported: {', '.join(READERS)})"
            )
        if index > 0:
            raise InvalidSpec(f"{where}: only one reader is allowed, and no transformation after it")
        definition.reader = name
        if name == "read_delimited":
            definition.delimited = _delimited_options(where, options)
        elif options:
            raise InvalidSpec(f"{where}: read_parquet takes no options here (given: {', '.join(map(str, options))})")


def _single_item(file: str, index: int, step: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(step, dict) or len(step) != 1:
        raise InvalidSpec(f"{file}: transformations[{index}] must be a reader such as read_delimited: {{…}}")
    name, options = next(iter(step.items()))
    if name in READERS and options is not None and not isinstance(options, dict):
        raise InvalidSpec(f"{file}: transformations[{index}].{name} must be a mapping of options")
    return str(name), dict(options) if isinstance(options, dict) else {}


def _delimited_options(where: str, options: dict[str, Any]) -> DelimitedOptions:
    allowed = ("delimiter", "header", "encoding")
    unknown = [str(k) for k in options if k not in allowed]
    if unknown:
        raise InvalidSpec(
            f"{where}: read_delimited option '{unknown[0]}' is not supported (supported: {', '.join(allowed)})"
        )
    result = DelimitedOptions(**{str(k): str(v) for k, v in options.items()})
    if result.header not in HEADERS:
        raise InvalidSpec(f"{where}: header '{result.header}' is not one of {', '.join(HEADERS)}")
    if result.encoding not in ENCODINGS:
        raise InvalidSpec(f"{where}: encoding '{result.encoding}' is not one of {', '.join(ENCODINGS)}")
    if not result.delimiter:
        raise InvalidSpec(f"{where}: delimiter must not be empty")
    return result


def load(path: str | Path) -> pd.DataFrame:
    """The MLTable's data as one DataFrame (rows of every file, in order). pandas and pyarrow (for
    parquet) are core dependencies (MLflow's), imported here rather than with the module."""
    import pandas

    definition = parse(path)
    if definition.reader == "read_parquet":
        frames = [pandas.read_parquet(file) for file in definition.files]
        return pandas.concat(frames, ignore_index=True)
    return _read_delimited(pandas, definition)


def _read_delimited(pandas: Any, definition: MLTableDefinition) -> pd.DataFrame:
    options = definition.delimited
    common = {"sep": options.delimiter, "encoding": ENCODINGS[options.encoding]}
    frames: list[Any] = []
    for index, file in enumerate(definition.files):
        has_header = options.header in ("all_files_same_headers", "all_files_different_headers") or (
            options.header == "from_first_file" and index == 0
        )
        frame = pandas.read_csv(file, header=0 if has_header else None, **common)
        if not has_header:
            names = list(frames[0].columns) if frames and options.header == "from_first_file" else None
            frame.columns = names or [f"Column{i + 1}" for i in range(frame.shape[1])]
        frames.append(frame)
    return pandas.concat(frames, ignore_index=True)
