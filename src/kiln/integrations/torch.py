"""PyTorch in a kiln job: the device to train on, reproducible runs, TensorBoard scalars without
TensorFlow, and models saved with a signature and an input example, so that an online endpoint
can check requests against them.

Models are saved in MLflow's default format for PyTorch, ``pt2`` (``torch.export``): a traced
graph that loads without unpickling code, so a deployment needs neither the model's class nor
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``. A later job that fine-tunes the model rebuilds its class
and takes the weights: ``net.load_state_dict(mlflow.pytorch.load_model(folder).state_dict())``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.extras import LazyExtra
from kiln.integrations.tensorboard import ScalarWriter, log_dir

if TYPE_CHECKING:
    import numpy as np
    import torch
    from mlflow.models import ModelSignature
    from mlflow.models.model import ModelInfo
else:
    torch = LazyExtra("torch", needed_by="kiln.integrations.torch")

CUBLAS_WORKSPACE_VARIABLE = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_WORKSPACE_SETTING = ":4096:8"  # what deterministic cuBLAS needs (PyTorch's reproducibility notes)
_REQUIREMENT_OPTIONS = ("pip_requirements", "extra_pip_requirements", "conda_env")


def device() -> torch.device:
    """The first GPU when PyTorch sees one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed(value: int = 0, *, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (every GPU's too). ``deterministic`` also
    asks PyTorch for deterministic kernels, warning where an operation has none; on a GPU that
    needs a fixed cuBLAS workspace, set here unless already set, so call this before any CUDA work."""
    import numpy as np

    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)
    if deterministic:
        os.environ.setdefault(CUBLAS_WORKSPACE_VARIABLE, CUBLAS_WORKSPACE_SETTING)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def tensorboard_writer(*parts: str, flush_secs: float = 10.0) -> ScalarWriter:
    """A scalar writer on the job's TensorBoard folder, or a folder below it (one per curve set:
    ``tensorboard_writer("fine-tuned")``); ``torch.utils.tensorboard`` would import TensorFlow."""
    return ScalarWriter(log_dir(*parts), flush_secs=flush_secs)


def save_model(model: torch.nn.Module, path: str | Path, example: Any, rows: int = 5, **options: Any) -> None:
    """Save ``model`` as an MLflow model at ``path`` (e.g. a job's ``${{outputs.model}}``), with
    the signature inferred from ``example`` and the model's output on it. The model is given the
    example as it is (its dtype becomes the signature's) and is saved from the CPU in eval mode;
    both are restored afterwards. Without requirement options, the installed mlflow, torch and
    numpy are pinned rather than inferred (MLflow infers them by loading the model in a subprocess)."""
    import mlflow

    head = _example_rows(example, rows)
    with _on_cpu_for_inference(model):
        signature = _signature(model, head)
        mlflow.pytorch.save_model(
            model, str(path), signature=signature, input_example=head, **_with_requirements(options)
        )


def log_model(model: torch.nn.Module, name: str, example: Any, rows: int = 5, **options: Any) -> ModelInfo:
    """:func:`save_model`, logged to the active MLflow run (a job's own run) as ``name``."""
    import mlflow

    head = _example_rows(example, rows)
    with _on_cpu_for_inference(model):
        signature = _signature(model, head)
        info: ModelInfo = mlflow.pytorch.log_model(
            model, name=name, signature=signature, input_example=head, **_with_requirements(options)
        )
    return info


def _example_rows(example: Any, rows: int) -> np.ndarray:
    """The first ``rows`` of ``example`` as a NumPy array. ``torch.export`` fixes any dimension
    that is 1 in the example, so two rows at least keep the saved model open to any batch size."""
    import numpy as np

    if isinstance(example, torch.Tensor):
        example = example.detach().cpu().numpy()
    head = np.asarray(example[:rows])
    if head.ndim == 0 or len(head) < 2:
        raise ValueError(
            f"the example needs at least 2 rows (got {len(head) if head.ndim else 0}), "
            "else the saved model only takes batches of that size"
        )
    return head


def _signature(model: torch.nn.Module, head: np.ndarray) -> ModelSignature:
    from mlflow.models import infer_signature

    with torch.no_grad():
        output = model(torch.from_numpy(head))
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"the model must return one tensor for an MLflow signature, got {type(output).__name__}")
    return infer_signature(head, output.numpy())


@contextmanager
def _on_cpu_for_inference(model: torch.nn.Module) -> Iterator[None]:
    """The model on the CPU in eval mode for the duration (a saved model must load where there is
    no GPU, and dropout or batch statistics must not be traced), then back as it was."""
    parameter = next(model.parameters(), None)
    before = parameter.device if parameter is not None else None
    training = model.training
    model.to("cpu").eval()
    try:
        yield
    finally:
        model.train(training)
        if before is not None:
            model.to(before)


def _with_requirements(options: dict[str, Any]) -> dict[str, Any]:
    if any(key in options for key in _REQUIREMENT_OPTIONS):
        return options
    import mlflow
    import numpy as np

    torch_version = torch.__version__.split("+", 1)[0]  # "2.13.0+cpu": the local label is not installable from PyPI
    pins = [f"mlflow=={mlflow.__version__}", f"torch=={torch_version}", f"numpy=={np.__version__}"]
    return {**options, "pip_requirements": pins}
