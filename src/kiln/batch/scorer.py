"""What scores one mini-batch, in a worker process (or a Ray actor): the deployment's scoring script (``init()``
once, then ``run(mini_batch)`` with a list of file paths) or, with no script, the MLflow model's ``predict`` on each
file's rows. Either way the answer is a DataFrame; with no script it carries each row's source ``file`` and ``row``.
A file is a local path or a :class:`RemoteFile` (a name and a signed URL, from the job's input manifest on a Ray
cluster): read through fsspec's HTTP file system as a stream; a script gets local copies of its mini-batch's files,
removed once ``run`` returns. Imported only in the job's processes (pandas, and mlflow for a no-code model)."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

FILE_COLUMN, ROW_COLUMN, PREDICTION_COLUMN = "file", "row", "prediction"


@dataclass(frozen=True)
class ScorerConfig:
    """What a worker needs to build its scorer (plain values: it crosses a process boundary)."""

    model: str  # the model's folder
    input_root: str  # the input's folder (source files are named relative to it)
    scoring_script: str | None = None  # a path (relative to the working directory: the job's code)
    code: str | None = None  # the folder the script's imports resolve in


@dataclass(frozen=True)
class RemoteFile:
    """A file of the input read from a signed URL: ``name`` (relative to the input) is what predictions name."""

    name: str
    url: str
    size: int | None = None


InputFile = str | RemoteFile


class RemoteReadError(OSError):
    """A remote file could not be read; the message names the file, never its signed URL."""


class ScoringScriptError(Exception):
    """The scoring script cannot be used: not found, does not import, or lacks run()."""


def load_script(path: Path) -> Any:
    """The scoring script as a module, checked to define ``run`` (``init`` is optional, as in Azure)."""
    if not path.is_file():
        raise ScoringScriptError(f"scoring_script: {path} not found in the deployment's code")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"kiln_batch_score_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise ScoringScriptError(
            f"scoring_script: {path.name} defines no run(mini_batch); a batch scoring script needs one"
        )
    return module


class Scorer:
    """One worker's scorer, built once (``init()`` runs here), then called for each mini-batch."""

    def __init__(self, config: ScorerConfig) -> None:
        self.config = config
        os.environ.setdefault("AZUREML_MODEL_DIR", config.model)
        os.environ.setdefault("KILN_MODEL_DIR", config.model)
        if config.scoring_script:
            self.script: Any = load_script(Path(config.code or ".") / config.scoring_script)
            init = getattr(self.script, "init", None)
            if callable(init):
                init()
            self.model = None
        else:
            import mlflow.pyfunc

            self.script = None
            self.model = mlflow.pyfunc.load_model(config.model)

    def score(self, files: Sequence[InputFile]) -> Any:
        """The mini-batch's results as a DataFrame (no script: the source file and row of each prediction)."""
        import pandas as pd

        if self.script is not None:
            with local_copies(files) as paths:
                return as_frame(self.script.run(paths))
        frames = []
        for file in files:
            rows = read_rows(file)
            predictions = as_frame(self.model.predict(rows))  # type: ignore[union-attr]
            predictions.index = range(len(predictions))
            name = file.name if isinstance(file, RemoteFile) else relative_name(file, self.config.input_root)
            source = pd.DataFrame({FILE_COLUMN: name, ROW_COLUMN: range(len(rows))})
            frames.append(pd.concat([source, predictions], axis=1))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def relative_name(file: str, root: str) -> str:
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return Path(file).name


def read_rows(file: InputFile | IO[bytes], name: str | None = None) -> Any:
    """A file's rows as a DataFrame, by its name's suffix: CSV (the default), Parquet, JSON lines. ``file`` is a
    path, a :class:`RemoteFile` (streamed from its URL) or an opened file (then ``name`` gives the suffix)."""
    import pandas as pd

    if isinstance(file, RemoteFile):
        with open_remote(file) as handle:
            try:
                return read_rows(handle, file.name)
            except Exception as exc:
                raise _read_error(file, exc) from None
    suffix = PurePosixPath(name if name is not None else str(file)).suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(file if isinstance(file, str) else io.BytesIO(file.read()))  # Parquet seeks
    if suffix in (".jsonl", ".json"):
        return pd.read_json(file, lines=suffix == ".jsonl")
    return pd.read_csv(file)


@contextmanager
def open_remote(file: RemoteFile, decompress: bool = True) -> Iterator[IO[bytes]]:
    """The file's bytes as a stream from its URL (one GET, no range requests, no HEAD where its size is known:
    an S3 presigned GET URL answers no HEAD), decompressed by the name's suffix (``.gz``, ``.bz2``…) unless not
    ``decompress``."""
    from fsspec.implementations.http import HTTPFileSystem
    from fsspec.utils import infer_compression

    try:
        fs = HTTPFileSystem(encoded=True)  # the URL as signed: no re-quoting of its query
        handle = fs.open(
            file.url,
            "rb",
            block_size=0,
            size=file.size or None,
            compression=infer_compression(file.name) if decompress else None,
        )
    except Exception as exc:
        raise _read_error(file, exc) from None
    with handle:
        yield handle


@contextmanager
def local_copies(files: Sequence[InputFile]) -> Iterator[list[str]]:
    """Local paths of the files for a scoring script's ``run``: a path as it is, a remote file streamed into a
    temporary folder under its own name (removed afterwards)."""
    if not any(isinstance(f, RemoteFile) for f in files):
        yield [str(f) for f in files]
        return
    scratch = Path(tempfile.mkdtemp(prefix="kiln-batch-"))
    try:
        paths = []
        for file in files:
            if not isinstance(file, RemoteFile):
                paths.append(str(file))
                continue
            parts = [p for p in PurePosixPath(file.name).parts if p not in ("", ".", "..", "/")]
            target = scratch.joinpath(*parts) if parts else scratch / "file"
            target.parent.mkdir(parents=True, exist_ok=True)
            with open_remote(file, decompress=False) as source, target.open("wb") as out:
                try:
                    shutil.copyfileobj(source, out, 1 << 20)
                except Exception as exc:
                    raise _read_error(file, exc) from None
            paths.append(str(target))
        yield paths
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _read_error(file: RemoteFile, exc: Exception) -> RemoteReadError:
    """Why ``file`` could not be read, naming the file and never its signed URL."""
    return RemoteReadError(f"{file.name}: {_without_url(f'{type(exc).__name__}: {exc}', file.url)}")


def _without_url(text: str, url: str) -> str:
    """``text`` without the signed URL or its secret parts (its query, its last path segment)."""
    parts = urlsplit(url)
    for secret in (url, parts.query, parts.path.rsplit("/", 1)[-1]):
        if len(secret) >= 16:
            text = text.replace(secret, "<signed URL>")
    return text


def as_frame(result: Any) -> Any:
    """What ``run()`` or ``predict`` answered, as a DataFrame: a DataFrame as it is, a Series or a list of scalars as
    one ``prediction`` column, a list of dicts as their keys, a list of lists or a 2-D array as its columns."""
    import numpy as np
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return result.reset_index(drop=True)
    if isinstance(result, pd.Series):
        return pd.DataFrame({PREDICTION_COLUMN: result.to_numpy()})
    if isinstance(result, dict):
        return pd.DataFrame(result)
    array = np.asarray(result, dtype=object) if isinstance(result, list | tuple) else np.asarray(result)
    if isinstance(result, list | tuple) and result and isinstance(result[0], dict):
        return pd.DataFrame(list(result))
    if array.ndim == 2:
        return pd.DataFrame(array.tolist(), columns=[f"{PREDICTION_COLUMN}_{i}" for i in range(array.shape[1])])
    return pd.DataFrame({PREDICTION_COLUMN: list(result) if isinstance(result, list | tuple) else array})
