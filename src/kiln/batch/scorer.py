"""What scores one mini-batch, in a worker process (or a Ray actor): the deployment's scoring script (``init()``
once, then ``run(mini_batch)`` with a list of file paths) or, with no script, the MLflow model's ``predict`` on each
file's rows. Either way the answer is a DataFrame; with no script it carries each row's source ``file`` and ``row``.
Imported only in the job's processes (pandas, and mlflow for a no-code model)."""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_COLUMN, ROW_COLUMN, PREDICTION_COLUMN = "file", "row", "prediction"


@dataclass(frozen=True)
class ScorerConfig:
    """What a worker needs to build its scorer (plain values: it crosses a process boundary)."""

    model: str  # the model's folder
    input_root: str  # the input's folder (source files are named relative to it)
    scoring_script: str | None = None  # a path (relative to the working directory: the job's code)
    code: str | None = None  # the folder the script's imports resolve in


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

    def score(self, files: list[str]) -> Any:
        """The mini-batch's results as a DataFrame (no script: the source file and row of each prediction)."""
        import pandas as pd

        if self.script is not None:
            return as_frame(self.script.run(list(files)))
        frames = []
        for file in files:
            rows = read_rows(file)
            predictions = as_frame(self.model.predict(rows))  # type: ignore[union-attr]
            predictions.index = range(len(predictions))
            source = pd.DataFrame(
                {FILE_COLUMN: relative_name(file, self.config.input_root), ROW_COLUMN: range(len(rows))}
            )
            frames.append(pd.concat([source, predictions], axis=1))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def relative_name(file: str, root: str) -> str:
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return Path(file).name


def read_rows(file: str) -> Any:
    """A file's rows as a DataFrame, by its suffix: CSV (the default), Parquet, JSON lines."""
    import pandas as pd

    suffix = Path(file).suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(file)
    if suffix in (".jsonl", ".json"):
        return pd.read_json(file, lines=suffix == ".jsonl")
    return pd.read_csv(file)


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
