"""What a replica serves: an MLflow model (no-code deployment) or an Azure-style scoring
script with ``init()`` and ``run(raw_data)``.

Both load in the replica's one scoring thread, which later runs every predict or ``run()``,
so a script that keeps thread-bound state in ``init()`` finds it in ``run()``. Loading
errors become ``ModelLoadFailed`` with a message for the person reading the replica's log.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiln.errors import InvalidInput, KilnError, ModelLoadFailed, ScoringFailed
from kiln.serving.replica import onnx_path
from kiln.serving.replica.array_path import ArrayPredict, agrees_on_example, array_predict_for
from kiln.serving.replica.encrypted_path import EncryptedScorer
from kiln.serving.replica.onnx_conversion import ConvertedModel
from kiln.serving.replica.payloads import ModelInput, Prediction
from kiln.serving.replica.signature import InputSignature
from kiln.specs.replica import OnnxRuntimeSettings, ReplicaConfig

log = logging.getLogger(__name__)


class MlflowModelScorer:
    """An MLflow pyfunc model loaded from its folder; predicts on merged batches, on the raw
    estimator with an array where that gives the same answers (``array_path``), or on ONNX
    Runtime for an ONNX model (``onnx_path``). With ``to_onnx`` (``runtime: onnx``), a model that
    is not ONNX is converted first, and its ONNX graph is what it serves."""

    platform = "mlflow"

    def __init__(self, model_dir: Path, onnx: OnnxRuntimeSettings | None = None, *, to_onnx: bool = False) -> None:
        self.model_dir = model_dir
        self.onnx = onnx or OnnxRuntimeSettings()
        self.to_onnx = to_onnx
        self.signature: InputSignature | None = None
        self.output_metadata: list[dict[str, Any]] = []
        self._model: Any = None
        self._converted: ConvertedModel | None = None
        self.array_path: ArrayPredict | None = None
        self.onnx_path: onnx_path.OnnxPredict | None = None

    @property
    def fast_path(self) -> ArrayPredict | onnx_path.OnnxPredict | None:
        return self.array_path or self.onnx_path

    def load(self) -> None:
        if not (self.model_dir / "MLmodel").is_file():
            raise ModelLoadFailed(
                f"no MLmodel file in {self.model_dir}: a deployment without a scoring script needs an MLflow model"
            )
        if self.to_onnx and not onnx_path.is_onnx_model(self.model_dir):
            self._converted = ConvertedModel(self.model_dir, self.onnx)
            self.model_dir = self._converted.model_dir
        try:
            import mlflow.pyfunc

            self._model = mlflow.pyfunc.load_model(str(self.model_dir))
        except Exception as exc:
            log.debug("%s", traceback.format_exc())
            raise ModelLoadFailed(
                f"cannot load the MLflow model in {self.model_dir}: {type(exc).__name__}: {exc}"
            ) from exc
        from kiln.serving.replica.protocols.v2 import output_metadata

        metadata = self._model.metadata
        self.signature = InputSignature.from_mlflow(metadata.get_input_schema())
        self.output_metadata = output_metadata(metadata.get_output_schema())
        if onnx_path.ONNX_FLAVOR in metadata.flavors:
            self.platform = "onnxruntime_onnx"  # Triton's name for the same runtime
            self.onnx_path = self._checked_onnx_path()
        else:
            self.array_path = self._checked_array_path()

    def _input_example(self) -> Any:
        try:
            return self._model.input_example
        except Exception:
            return None

    def _checked_array_path(self) -> ArrayPredict | None:
        fast = array_predict_for(self._model, self.signature)
        if fast is None:
            return None
        if not agrees_on_example(fast, self._pyfunc_predict, self._input_example()):
            return None
        log.info("scoring on the estimator with arrays (MLflow's schema already checked by kiln)")
        return fast

    def _checked_onnx_path(self) -> onnx_path.OnnxPredict | None:
        try:
            fast = onnx_path.onnx_predict_for(self.model_dir, self._model, self.signature, self.onnx)
        except KilnError:
            raise
        except Exception as exc:
            log.info("the ONNX Runtime path is off: kiln's session did not start (%s: %s)", type(exc).__name__, exc)
            return None
        if fast is None or not onnx_path.agrees_on_example(fast, self._pyfunc_predict, self._input_example()):
            return None
        log.info(
            "scoring on ONNX Runtime (intra-op threads %d, inter-op threads %d, all graph optimisations)",
            self.onnx.intra_op_threads,
            self.onnx.inter_op_threads,
        )
        return fast

    def predict(self, item: ModelInput) -> Prediction:
        fast = self.fast_path
        try:
            if fast is not None and fast.accepts(item):
                result = fast.predict(item)
            else:
                result = self._pyfunc_predict(item)
        except KilnError:
            raise
        except Exception as exc:
            raise _predict_error(exc) from exc
        if isinstance(result, Prediction):
            return result
        return Prediction.from_model_output(result, item.rows)

    def _pyfunc_predict(self, item: ModelInput) -> Any:
        """MLflow's own path: the frame (or tensors), its schema enforcement, the flavor's predict."""
        data = _model_data(item, self.signature)
        if item.params:
            return self._model.predict(data, params=item.params)
        return self._model.predict(data)


def _model_data(item: ModelInput, signature: InputSignature | None) -> Any:
    if item.tensors:
        if len(item.columns) == 1 and (signature is None or len(signature.tensors) <= 1):
            return next(iter(item.columns.values()))
        return item.columns
    import pandas as pd

    return pd.DataFrame(item.columns)


def _predict_error(exc: Exception) -> KilnError:
    """MLflow's own schema enforcement speaks of the caller's input: a 400; anything else is
    the model's failure: a 500."""
    error_code = getattr(exc, "error_code", None)
    message = getattr(exc, "message", None) or str(exc)
    if error_code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
        return InvalidInput(message)
    return ScoringFailed(f"the model's predict raised {type(exc).__name__}: {message}")


class ScoringScriptScorer:
    """``code_dir/scoring_script`` imported once; ``init()`` at load, ``run(raw_data)`` per
    request with the body as a string, as Azure ML calls them."""

    platform = "kiln_scoring_script"
    signature: InputSignature | None = None
    output_metadata: list[dict[str, Any]] = []

    def __init__(self, code_dir: Path, scoring_script: str) -> None:
        self.code_dir = code_dir
        self.scoring_script = scoring_script
        self._run: Callable[[str], Any] | None = None

    def load(self) -> None:
        path = self.code_dir / self.scoring_script
        if not path.is_file():
            raise ModelLoadFailed(f"the scoring script '{self.scoring_script}' is not in {self.code_dir}")
        sys.path.insert(0, str(self.code_dir))
        os.chdir(self.code_dir)
        module_name = Path(self.scoring_script).stem
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except BaseException as exc:
            log.error("%s", traceback.format_exc().rstrip())
            raise ModelLoadFailed(
                f"the scoring script '{self.scoring_script}' failed to import: {_describe(exc)}"
            ) from exc
        init, run = getattr(module, "init", None), getattr(module, "run", None)
        missing = [name for name, fn in (("init()", init), ("run(raw_data)", run)) if not callable(fn)]
        if missing:
            raise ModelLoadFailed(f"the scoring script '{self.scoring_script}' must define {' and '.join(missing)}")
        assert callable(init) and callable(run)
        try:
            init()
        except BaseException as exc:
            log.error("%s", traceback.format_exc().rstrip())
            raise ModelLoadFailed(f"the scoring script's init() failed: {_describe(exc)}") from exc
        self._run = run

    def run(self, raw_data: str) -> Any:
        assert self._run is not None
        try:
            return self._run(raw_data)
        except KilnError:
            raise
        except Exception as exc:
            log.error("run() failed:\n%s", traceback.format_exc().rstrip())
            raise ScoringFailed(f"the scoring script's run() raised {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({Path(exc.filename or '?').name}, line {exc.lineno})"
    return f"{type(exc).__name__}: {exc}"


Scorer = MlflowModelScorer | ScoringScriptScorer | EncryptedScorer


def scorer_for(config: ReplicaConfig) -> Scorer:
    """The script when the deployment has one (the model folder is then the script's to
    read, via AZUREML_MODEL_DIR / KILN_MODEL_DIR); otherwise the MLflow model: no code."""
    if config.scoring_script:
        if config.code_dir is None:
            raise ModelLoadFailed("the deployment names a scoring script but no code folder (code_configuration.code)")
        return ScoringScriptScorer(config.code_dir.resolve(), config.scoring_script)
    if config.model_dir is None:
        raise ModelLoadFailed("the deployment has neither a model nor a scoring script")
    if config.encryption is not None:
        return EncryptedScorer(config.model_dir.resolve(), config.encryption)
    return MlflowModelScorer(config.model_dir.resolve(), config.onnx, to_onnx=config.runtime == "onnx")
