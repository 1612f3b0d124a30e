"""An ONNX model's predict on ONNX Runtime directly, for inputs kiln's signature check has passed.

MLflow's pyfunc for the ``onnx`` flavor builds a pandas DataFrame (or takes the tensors),
enforces the signature a second time, casts float64 feeds to float32 where the graph takes
float, runs its own ``InferenceSession`` and, for a table, wraps the outputs in a DataFrame.
Here the one input tensor is built from the request's columns in the dtype that path would feed
(float64 cast to float32 for a ``tensor(float)`` input, as MLflow does), run on a session kiln
made itself (all graph optimisations, the deployment's thread counts), and the outputs come back
in the shape pyfunc gives them: a table's outputs flattened per row (``kind`` frame), a tensor's
as a dict. One deliberate difference: where a table's outputs are not one value per row (a
classifier's [N, classes] probabilities, as kiln's conversions make them), pyfunc raises; this
path answers the outputs as they are, as a dict, as it does for tensors. What it does not take
(params, several graph inputs, integer or text columns, an array of another dtype than the
graph's) keeps MLflow's path.
At load, the model's own input example (when saved) must give identical answers on both paths,
or this path stays off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kiln.serving.replica.payloads import ModelInput, Prediction
from kiln.serving.replica.signature import InputSignature
from kiln.specs.replica import OnnxRuntimeSettings

log = logging.getLogger(__name__)

ONNX_FLAVOR = "onnx"
_FEED_DTYPES = {"tensor(float)": np.dtype(np.float32), "tensor(double)": np.dtype(np.float64)}
# the signature's column types whose values MLflow's enforcement leaves as floating point numbers
_FLOATING_COLUMNS = {"tensor(float)": ("double", "float"), "tensor(double)": ("double",)}


def is_onnx_model(model_dir: Path) -> bool:
    """Whether the MLflow model in ``model_dir`` has the onnx flavor (read from MLmodel: no code runs)."""
    from mlflow.models import Model

    try:
        return ONNX_FLAVOR in Model.load(str(model_dir / "MLmodel")).flavors
    except Exception:
        return False


def inference_session(model_file: Path, settings: OnnxRuntimeSettings) -> Any:
    """An ``InferenceSession`` on the CPU with every graph optimisation and the deployment's threads."""
    from kiln.extras import require_extra

    onnxruntime = require_extra("onnx", "onnxruntime", needed_by="serving an ONNX model on ONNX Runtime")
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.execution_mode = (
        onnxruntime.ExecutionMode.ORT_PARALLEL
        if settings.inter_op_threads > 1
        else onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    )
    # a replica shares its cores with the server and the other replicas: idle threads sleep, not spin
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model_file), sess_options=options, providers=["CPUExecutionProvider"])


class OnnxPredict:
    """``predict(item)`` for the inputs it can take (``accepts``), on kiln's own session; the
    answer is a ``Prediction`` in the shape MLflow's pyfunc would have given."""

    def __init__(self, session: Any, signature: InputSignature | None) -> None:
        graph_input = session.get_inputs()[0]
        self._session = session
        self._input_name: str = graph_input.name
        self._feed_dtype = _FEED_DTYPES[graph_input.type]
        self._input_type: str = graph_input.type
        self._output_names = [output.name for output in session.get_outputs()]
        self._signature = signature

    def accepts(self, item: ModelInput) -> bool:
        if item.params:
            return False
        if item.tensors:
            return self._accepts_tensor(item)
        return self._accepts_table(item)

    def _accepts_tensor(self, item: ModelInput) -> bool:
        """One array of the graph's own dtype (MLflow checks a tensor signature strictly), or,
        with no signature, of float64 for a float graph (pyfunc casts it, and so does ``predict``)."""
        if len(item.columns) != 1:
            return False
        values = next(iter(item.columns.values()))
        if not isinstance(values, np.ndarray):
            return False
        if self._signature is None:
            return values.dtype == self._feed_dtype or (values.dtype == np.float64 and self._feed_dtype == np.float32)
        tensors = self._signature.tensors
        return values.dtype == self._feed_dtype and len(tensors) == 1 and tensors[0].dtype == self._feed_dtype

    def _accepts_table(self, item: ModelInput) -> bool:
        """Columns of floating point numbers, in the signature's order when there is one: the
        frame pyfunc builds then has one float dtype, and its values are the input tensor."""
        if self._signature is not None:
            if not self._signature.is_table:
                return False
            columns = self._signature.columns
            floating = _FLOATING_COLUMNS[self._input_type]
            if [spec.name for spec in columns] != list(item.columns):
                return False
            if not all(spec.required and spec.type in floating for spec in columns):
                return False
        return all(_all_floats(values) for values in item.columns.values())

    def predict(self, item: ModelInput) -> Prediction:
        if item.tensors:
            feed = np.asarray(next(iter(item.columns.values()))).astype(self._feed_dtype, copy=False)
            outputs = self._session.run(self._output_names, {self._input_name: feed})
            return Prediction.from_model_output(dict(zip(self._output_names, outputs, strict=True)), item.rows)
        # (columns, rows) transposed, as DataFrame.values gives them; float64 first, as pandas holds them
        table = np.array(list(item.columns.values()), dtype=np.float64).T
        outputs = self._session.run(self._output_names, {self._input_name: table.astype(self._feed_dtype)})
        named = dict(zip(self._output_names, outputs, strict=True))
        flat = {name: np.asarray(output).reshape(-1) for name, output in named.items()}
        if any(len(values) != item.rows for values in flat.values()):
            # pyfunc cannot make a table of these (a classifier's [N, classes] probabilities): it raises.
            # kiln answers the graph's outputs as they are, as for tensors, rather than that error.
            return Prediction.from_model_output(named, item.rows)
        return Prediction(flat, "frame", item.rows)


def _all_floats(values: Any) -> bool:
    if isinstance(values, np.ndarray):
        return values.dtype.kind == "f"
    return all(type(value) is float or isinstance(value, np.floating) for value in values)


def onnx_predict_for(
    model_dir: Path, pyfunc_model: Any, signature: InputSignature | None, settings: OnnxRuntimeSettings
) -> OnnxPredict | None:
    """The ONNX Runtime path for this loaded pyfunc model, or None when it must keep MLflow's path."""
    flavor = pyfunc_model.metadata.flavors.get(ONNX_FLAVOR)
    if flavor is None or not flavor.get("data"):
        return None
    session = inference_session(model_dir / flavor["data"], settings)
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type not in _FEED_DTYPES:
        log.info("ONNX Runtime path off: the graph takes %s", [(i.name, i.type) for i in inputs])
        return None
    return OnnxPredict(session, signature)


def agrees_on_example(fast: OnnxPredict, pyfunc_predict: Callable[[ModelInput], Any], example: Any) -> bool:
    """Both paths on the model's saved input example: identical answers, or False."""
    import pandas as pd

    if isinstance(example, pd.DataFrame) and not example.empty:
        item = ModelInput({str(name): example[name].tolist() for name in example.columns}, len(example))
    elif isinstance(example, np.ndarray) and example.ndim >= 1 and len(example):
        item = ModelInput({"input": example}, len(example), tensors=True)
    else:
        return True  # nothing to compare on; the graph and signature checks stand
    if not fast.accepts(item):
        return True
    try:
        ours = fast.predict(item)
        if ours.kind == "dict" and not item.tensors:
            return True  # outputs pyfunc cannot make a table of: it has no answer to compare with
        theirs = Prediction.from_model_output(pyfunc_predict(item), item.rows)
    except Exception as exc:
        log.info("the ONNX Runtime path is off: the input example fails on it (%s)", exc)
        return False
    same = same_prediction(ours, theirs)
    if not same:
        log.info("the ONNX Runtime path is off: it disagrees with MLflow's on the input example")
    return same


def same_prediction(ours: Prediction, theirs: Prediction) -> bool:
    """Same kind, names, dtypes, shapes and values (NaN equal to NaN)."""
    if ours.kind != theirs.kind or list(ours.outputs) != list(theirs.outputs) or ours.rows != theirs.rows:
        return False
    for name, mine in ours.outputs.items():
        other = theirs.outputs[name]
        if mine.dtype != other.dtype or mine.shape != other.shape:
            return False
        if not np.array_equal(mine, other, equal_nan=mine.dtype.kind in "fc"):
            return False
    return True
