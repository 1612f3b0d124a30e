"""A scikit-learn model's predict on a numpy array, for inputs kiln's signature check has passed.

MLflow's pyfunc path builds a pandas DataFrame, enforces the signature a second time and hands
the frame to scikit-learn, which turns it back into an array: at 64 rows, more than half the
replica's CPU. For a model that takes what that path would give it anyway (a plain scikit-learn
estimator or pipeline, a signature of required ``double`` or ``long`` columns), the array is
built here in the same dtype, column order and memory layout (pandas' block, transposed), and the
model's ``pyfunc_predict_fn`` runs on it: the same numbers, bit for bit. Anything else (params,
tensors, optional or mixed-type columns, column transformers, custom code) keeps MLflow's path.
At load, the model's own input example (when saved) must give identical answers on both paths,
or the fast path stays off.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from kiln.serving.replica.payloads import Column, ModelInput
from kiln.serving.replica.signature import InputSignature

log = logging.getLogger(__name__)

_DTYPES = {"double": np.dtype(np.float64), "long": np.dtype(np.int64)}  # MLflow type → what enforcement makes
# estimators that read columns by name or run the caller's code: they need the DataFrame
_NEEDS_FRAME = ("sklearn.compose.", "sklearn.preprocessing._function_transformer")


class ArrayPredict:
    """``predict(item)`` for the inputs it can take (``accepts``), on the raw estimator."""

    def __init__(self, predict: Callable[[Any], Any], columns: list[str], dtype: np.dtype[Any]) -> None:
        self._predict = predict
        self._columns = columns
        self._dtype = dtype
        self._floating = dtype.kind == "f"

    def accepts(self, item: ModelInput) -> bool:
        if item.params or item.tensors or len(item.columns) != len(self._columns):
            return False
        return all(self._same_as_enforced(values) for values in item.columns.values())

    def _same_as_enforced(self, values: Column) -> bool:
        """Whether MLflow's enforcement would take this column as it is. It refuses a column of
        integers where a double is expected ("cannot safely convert int64 to float64"), so such a
        column takes its path and gets its answer; arrays (V2 binary tensors) must cast safely."""
        if isinstance(values, np.ndarray):
            if self._floating and values.dtype.kind != "f":
                return False
            return np.can_cast(values.dtype, self._dtype, "safe")
        if self._floating:
            return any(type(value) is float or isinstance(value, np.floating) for value in values)
        return True

    def predict(self, item: ModelInput) -> Any:
        # (columns, rows) in C order, transposed: the layout DataFrame.to_numpy() gives scikit-learn
        table = np.array([item.columns[name] for name in self._columns], dtype=self._dtype)
        return self._predict(table.T)


def array_predict_for(pyfunc_model: Any, signature: InputSignature | None) -> ArrayPredict | None:
    """The fast path for this loaded pyfunc model, or None when it must keep MLflow's path."""
    if signature is None or not signature.is_table:
        return None
    types = {spec.type for spec in signature.columns}
    if len(types) != 1 or not all(spec.required for spec in signature.columns):
        return None
    dtype = _DTYPES.get(types.pop())
    metadata = pyfunc_model.metadata
    pyfunc_conf = metadata.flavors.get("python_function", {})
    if dtype is None or "sklearn" not in metadata.flavors or pyfunc_conf.get("loader_module") != "mlflow.sklearn":
        return None
    try:
        estimator = pyfunc_model.get_raw_model()
    except Exception:
        return None
    if not _takes_arrays(estimator):
        return None
    names = signature.column_names
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and list(fitted_names) != names:
        return None  # scikit-learn would refuse (or reorder) a frame; MLflow's path says which
    predict = getattr(estimator, pyfunc_conf.get("predict_fn", "predict"), None)
    if not callable(predict):
        return None
    # an array has no column names; the names were checked above, once
    warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
    return ArrayPredict(predict, names, dtype)


def _takes_arrays(estimator: Any) -> bool:
    """A scikit-learn estimator, or a pipeline of them, none of which selects columns by name."""
    steps = getattr(estimator, "steps", None)
    if steps is not None and type(estimator).__module__.startswith("sklearn.pipeline"):
        return all(step in (None, "passthrough") or _takes_arrays(step) for _, step in steps)
    module = type(estimator).__module__
    return module.startswith("sklearn.") and not module.startswith(_NEEDS_FRAME)


def agrees_on_example(fast: ArrayPredict, pyfunc_predict: Callable[[ModelInput], Any], example: Any) -> bool:
    """Both paths on the model's saved input example: identical answers, or False."""
    import pandas as pd

    if not isinstance(example, pd.DataFrame) or example.empty:
        return True  # nothing to compare on; the estimator and signature checks stand
    columns = {str(name): example[name].tolist() for name in example.columns}
    item = ModelInput(columns, len(example))
    if not fast.accepts(item):
        return True
    try:
        ours = np.asarray(fast.predict(item))
        theirs = np.asarray(pyfunc_predict(item))
    except Exception as exc:
        log.info("the array path is off: the input example fails on it (%s)", exc)
        return False
    same = ours.dtype == theirs.dtype and ours.shape == theirs.shape and np.array_equal(ours, theirs, equal_nan=True)
    if not same:
        log.info("the array path is off: it disagrees with MLflow's on the input example")
    return same
