"""What a responsible AI job reads: a table (CSV, Parquet, an MLTable folder) and an MLflow model (its
estimator when it has the sklearn flavor, the columns its signature names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kiln.errors import InvalidSpec

PARQUET = (".parquet", ".pq")


def read_table(path: Path, field_name: str) -> pd.DataFrame:
    """A CSV or Parquet file, a folder holding an MLTable file, or a folder of one CSV/Parquet file."""
    if path.is_dir():
        if (path / "MLTable").exists():
            from kiln import mltable

            return mltable.load(path)
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".csv", *PARQUET))
        if len(files) != 1:
            raise InvalidSpec(f"{field_name}: expected one CSV or Parquet file or an MLTable; found {len(files)} files")
        path = files[0]
    if path.suffix.lower() in PARQUET:
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".tsv", ".txt", ""):
        return pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    raise InvalidSpec(f"{field_name}: {path.name} is not a CSV or Parquet file")


@dataclass
class LoadedModel:
    model: Any  # what explanations call: the sklearn estimator, else the pyfunc model
    estimator: Any | None  # the sklearn estimator (reductions retrain clones of it)
    flavors: list[str]
    features: list[str] = field(default_factory=list)  # the signature's input columns (empty: none declared)

    def predict(self, X: pd.DataFrame) -> Any:
        answer = self.model.predict(X)
        return answer.iloc[:, 0].to_numpy() if isinstance(answer, pd.DataFrame) else answer


def load_model(path: Path) -> LoadedModel:
    import mlflow

    pyfunc = mlflow.pyfunc.load_model(str(path))
    flavors = sorted(pyfunc.metadata.flavors)
    schema = pyfunc.metadata.get_input_schema()
    features = list(schema.input_names()) if schema is not None and not schema.is_tensor_spec() else []
    estimator = mlflow.sklearn.load_model(str(path)) if "sklearn" in flavors else None
    return LoadedModel(estimator if estimator is not None else pyfunc, estimator, flavors, [str(f) for f in features])
