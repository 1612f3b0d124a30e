"""The source model as a conversion sees it: its flavor, its inputs from the MLflow signature, its input
example, and rows generated from both for the parity proof."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidSpec, UnsupportedModel

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# the flavors a converter is known for, first match wins (a LightGBM model saved with mlflow.sklearn is sklearn)
CONVERTIBLE_FLAVORS = ("sklearn", "lightgbm", "xgboost", "pytorch", "keras", "tensorflow")
NUMERIC_TYPES = ("double", "float", "long", "integer")
GENERATED_ROWS = 200


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # MLflow's column type: double, float, long, integer, string, boolean


@dataclass
class SourceModel:
    """An MLflow model folder about to be converted."""

    folder: Path
    flavor: str
    flavor_config: dict[str, Any]
    columns: list[Column] | None  # a column signature (a DataFrame's)
    tensor_name: str | None  # a tensor signature's input name (None: unnamed)
    tensor_dtype: str | None
    tensor_shape: tuple[int, ...] | None  # -1 for the batch (and any free) axis
    example: Any  # DataFrame (columns) or ndarray (tensor), None when the model has no input example

    @property
    def is_tensor(self) -> bool:
        return self.columns is None


def read_source(folder: Path) -> SourceModel:
    """The flavor, signature and input example of the MLflow model at ``folder``."""
    from mlflow.models import Model

    if not (folder / "MLmodel").is_file():
        raise InvalidSpec(
            f"model: {folder} is not an MLflow model folder (no MLmodel file); only mlflow_model converts"
        )
    model = Model.load(str(folder))
    flavor = next((name for name in CONVERTIBLE_FLAVORS if name in model.flavors), None)
    if flavor is None:
        found = ", ".join(sorted(set(model.flavors) - {"python_function"})) or "python_function only"
        what = "it is already ONNX" if "onnx" in model.flavors else f"its flavor ({found}) has no ONNX converter"
        raise UnsupportedModel(
            f"model: cannot convert this model to ONNX: {what}; supported flavors: {', '.join(CONVERTIBLE_FLAVORS)}"
        )
    signature = model.signature
    if signature is None or signature.inputs is None:
        raise UnsupportedModel(
            "model: it has no MLflow signature; kiln takes the ONNX inputs' names, types and shapes from it: save the "
            "model with signature= (or an input_example, from which MLflow infers one)"
        )
    example = _example(model, folder)
    if signature.inputs.is_tensor_spec():
        spec = signature.inputs.inputs[0]
        if len(signature.inputs.inputs) > 1:
            raise UnsupportedModel("model: a signature of several tensors; kiln converts models with one tensor input")
        return SourceModel(
            folder, flavor, dict(model.flavors[flavor]), None, spec.name, str(spec.type), tuple(spec.shape),
            None if example is None else _as_array(example),
        )  # fmt: skip
    columns = [Column(str(c.name), c.type.name if hasattr(c.type, "name") else str(c.type)) for c in signature.inputs]
    unsupported = [c for c in columns if c.type not in (*NUMERIC_TYPES, "string", "boolean")]
    if unsupported:
        raise UnsupportedModel(
            f"model: input column '{unsupported[0].name}' has type {unsupported[0].type}; "
            f"supported column types: {', '.join(NUMERIC_TYPES)}, string, boolean"
        )
    return SourceModel(folder, flavor, dict(model.flavors[flavor]), columns, None, None, None, example)


def _example(model: Any, folder: Path) -> Any:
    try:
        return model.load_input_example(str(folder))
    except Exception:  # an example MLflow cannot read back is as good as none: rows are generated instead
        return None


def _as_array(example: Any) -> np.ndarray:
    import numpy as np

    if isinstance(example, dict) and len(example) == 1:
        example = next(iter(example.values()))
    return np.asarray(example)


def generated_rows(source: SourceModel, count: int = GENERATED_ROWS, seed: int = 0) -> Any:
    """``count`` rows drawn from the signature, in the range the input example spans (a little wider), so that
    the proof covers more than the example: uniform numbers, integers, the example's strings and booleans."""
    import numpy as np
    import pandas as pd

    random = np.random.default_rng(seed)
    if source.is_tensor:
        shape = tuple(count if i == 0 else (d if d > 0 else 1) for i, d in enumerate(source.tensor_shape or (-1,)))
        if source.example is not None and source.example.size:
            low, high = float(np.min(source.example)), float(np.max(source.example))
            shape = (count, *source.example.shape[1:])
        else:
            low, high = 0.0, 1.0
        values = random.uniform(low, high, size=shape)
        dtype = np.dtype(source.example.dtype if source.example is not None else (source.tensor_dtype or "float32"))
        return (np.rint(values) if dtype.kind in "iu" else values).astype(dtype)
    frame: dict[str, Any] = {}
    example = source.example if isinstance(source.example, pd.DataFrame) else None
    for column in source.columns or []:
        seen = example[column.name] if example is not None and column.name in example else None
        frame[column.name] = _column_values(column, seen, count, random)
    return pd.DataFrame(frame)


def _column_values(column: Column, seen: pd.Series | None, count: int, random: np.random.Generator) -> Any:
    import numpy as np

    if column.type in ("string", "boolean"):
        choices = list(seen.dropna().unique()) if seen is not None and len(seen.dropna()) else None
        if choices is None:
            choices = [True, False] if column.type == "boolean" else ["a", "b"]
        return random.choice(np.asarray(choices, dtype=object), size=count)
    low, high = (float(seen.min()), float(seen.max())) if seen is not None and len(seen.dropna()) else (0.0, 1.0)
    spread = (high - low) * 0.1 or 1.0
    values = random.uniform(low - spread, high + spread, size=count)
    if column.type in ("long", "integer"):
        return np.rint(values).astype("int64" if column.type == "long" else "int32")
    return values.astype("float32" if column.type == "float" else "float64")


def rows_of(source: SourceModel, rows: Any) -> Any:
    """Rows (an example, a data asset's table) in the shape the model takes: a DataFrame of the signature's
    columns in its order, or an array of its tensor's dtype."""
    import numpy as np
    import pandas as pd

    if source.is_tensor:
        array = rows.to_numpy() if isinstance(rows, pd.DataFrame) else np.asarray(rows)
        dtype = source.example.dtype if source.example is not None else np.dtype(source.tensor_dtype or "float32")
        if source.tensor_shape and len(source.tensor_shape) > 2 and array.ndim == 2:
            array = array.reshape((len(array), *[d if d > 0 else 1 for d in source.tensor_shape[1:]]))
        return array.astype(dtype)
    frame = (
        rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=[c.name for c in source.columns or []])
    )
    missing = [c.name for c in source.columns or [] if c.name not in frame.columns]
    if missing:
        raise InvalidSpec(f"data: the rows have no column {missing[0]!r}, which the model's signature names")
    return frame[[c.name for c in source.columns or []]].reset_index(drop=True)


def concatenate(parts: list[Any]) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(parts[0], pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts)
