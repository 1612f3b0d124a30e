"""Keras 3 in a kiln job: seeds that make a run repeatable, the ``TensorBoard`` callback pointed
at the job's log folder, autologging, and models saved (MLflow's ``keras`` flavor) with a
signature and an input example, so that an online endpoint can check requests against them.

Keras is imported when a function is called, never by ``import kiln``. Models are saved with
their requirements pinned to what is installed (Keras and its backend): MLflow would otherwise
infer them by loading the model again in a fresh Python, which costs seconds.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.extras import LazyExtra, check_extra
from kiln.integrations.tensorboard import log_dir
from kiln.integrations.tensorflow import TENSORFLOW_DISTRIBUTIONS, with_pinned_requirements

if TYPE_CHECKING:
    import keras
else:
    keras = LazyExtra("tensorflow", "keras", needed_by="kiln.integrations.keras")

BACKEND_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorflow": TENSORFLOW_DISTRIBUTIONS,
    "torch": ("torch",),
    "jax": ("jax",),
}


def seed(value: int = 0, *, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and the backend's generators (``keras.utils.set_random_seed``).
    ``deterministic`` with TensorFlow as the backend also makes its ops deterministic: the same
    job gives the same model; call it before building the model."""
    keras.utils.set_random_seed(value)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def tensorboard_callback(*parts: str, **options: Any) -> Any:
    """``keras.callbacks.TensorBoard`` writing into the job's TensorBoard folder
    (``log_dir(*parts)``, kept with the job); ``options`` go to the callback."""
    return keras.callbacks.TensorBoard(log_dir=str(log_dir(*parts)), **options)


def autolog(**options: Any) -> None:
    """MLflow's Keras 3 autologging (params, per-epoch metrics, the model) with signatures
    and input examples on; ``log_models=False`` when the job saves its model to an output."""
    import mlflow

    check_extra("tensorflow", ("keras",), needed_by="kiln.integrations.keras.autolog")
    mlflow.keras.autolog(**{"log_model_signatures": True, "log_input_examples": True, **options})


def save_model(
    model: Any, path: str | Path, example: Any, rows: int = 5, *, exported: bool = False, **options: Any
) -> None:
    """Save a Keras model as an MLflow model at ``path`` (e.g. a job's ``${{outputs.model}}``),
    with the signature inferred from ``example`` and the model's predictions on its first
    ``rows`` rows.

    ``exported=True`` saves the compiled serving graph instead of a ``.keras`` file: predicting
    a few rows then costs about a millisecond instead of ``model.predict``'s tens, but loading
    it back gives that graph, not a Keras model to train further (and needs TensorFlow).
    ``options`` go to ``mlflow.keras.save_model``."""
    import mlflow
    from mlflow.models import infer_signature

    head = example[:rows]
    signature = infer_signature(head, model.predict(head, verbose=0))
    backend = BACKEND_DISTRIBUTIONS.get(keras.backend.backend(), ())
    options = with_pinned_requirements(options, "keras", *([backend] if backend else []))
    # MLflow writes the input example before it creates the folder; the export prints every captured variable
    Path(path).mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        mlflow.keras.save_model(
            model, str(path), save_exported_model=exported, signature=signature, input_example=head, **options
        )
