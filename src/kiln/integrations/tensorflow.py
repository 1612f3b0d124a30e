"""TensorFlow in a kiln job: seeds that make a run repeatable, a summary writer in the job's
TensorBoard folder, autologging for ``fit``, and models saved with a signature and an input
example, so that an online endpoint can check requests against them.

TensorFlow is imported when a function is called, never by ``import kiln``. Models are saved
with their requirements pinned to what is installed: MLflow would otherwise infer them by
loading the model again in a fresh Python, which costs another TensorFlow import (5-7 s).
"""

from __future__ import annotations

import random
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.extras import LazyExtra, check_extra
from kiln.integrations.tensorboard import log_dir

if TYPE_CHECKING:
    import tensorflow as tf
else:
    tf = LazyExtra("tensorflow", needed_by="kiln.integrations.tensorflow")

# the first one installed is pinned; tensorflow-cpu and tensorflow provide the same module
TENSORFLOW_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "tensorflow-macos", "tensorflow-intel")
REQUIREMENT_OPTIONS = ("pip_requirements", "extra_pip_requirements", "conda_env")


def seed(value: int = 0, *, deterministic: bool = True) -> None:
    """Seed Python's, NumPy's and TensorFlow's generators. ``deterministic`` also makes
    TensorFlow's ops deterministic (``enable_op_determinism``): the same job gives the same
    model, at some cost in speed; call it before building the model."""
    import numpy as np

    random.seed(value)
    np.random.seed(value)
    tf.random.set_seed(value)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def summary_writer(*parts: str) -> Any:
    """A ``tf.summary`` file writer in the job's TensorBoard folder (``log_dir(*parts)``),
    e.g. ``summary_writer("train")``; use it with ``with writer.as_default():``."""
    return tf.summary.create_file_writer(str(log_dir(*parts)))


def autolog(**options: Any) -> None:
    """MLflow's TensorFlow autologging (``fit`` of Keras models) with input examples and
    signatures on, and per-epoch checkpoints off: a job writes its checkpoints to an output."""
    import mlflow

    check_extra("tensorflow", needed_by="kiln.integrations.tensorflow.autolog")
    mlflow.tensorflow.autolog(
        **{"log_input_examples": True, "log_model_signatures": True, "checkpoint": False, **options}
    )


def save_model(model: Any, path: str | Path, example: Any, rows: int = 5, **options: Any) -> None:
    """Save a ``tf.Module`` (called on a batch) or a Keras model as an MLflow model at ``path``
    (e.g. a job's ``${{outputs.model}}``), with the signature inferred from ``example`` and the
    model's predictions on its first ``rows`` rows. ``options`` go to
    ``mlflow.tensorflow.save_model``."""
    import mlflow
    from mlflow.models import infer_signature

    head = example[:rows]
    signature = infer_signature(head, predict(model, head))
    options = with_pinned_requirements(options, TENSORFLOW_DISTRIBUTIONS)
    mlflow.tensorflow.save_model(model, str(path), signature=signature, input_example=head, **options)


def predict(model: Any, batch: Any) -> Any:
    """What the model answers for ``batch``, as numpy: ``model.predict`` for Keras models, a
    call for a ``tf.Module``; a dict of tensors becomes a dict of arrays."""
    if isinstance(model, tf.keras.Model):
        return model.predict(batch, verbose=0)
    result = model(tf.convert_to_tensor(batch))
    return tf.nest.map_structure(lambda tensor: tensor.numpy(), result)


def with_pinned_requirements(options: dict[str, Any], *requirements: tuple[str, ...] | str) -> dict[str, Any]:
    """``options`` for an MLflow ``save_model``, with ``pip_requirements`` pinning mlflow, numpy
    and ``requirements`` as installed, unless the caller gave requirements of their own."""
    if any(key in options for key in REQUIREMENT_OPTIONS):
        return options
    return {**options, "pip_requirements": pinned_requirements("mlflow", "numpy", *requirements)}


def pinned_requirements(*alternatives: tuple[str, ...] | str) -> list[str]:
    """``name==version`` for each requirement, as installed here (without a local label such as
    ``+cpu``, which PyPI does not serve); a tuple names alternatives of which the first installed
    is pinned (none installed: the first name, unpinned)."""
    pins = []
    for requirement in alternatives:
        names = (requirement,) if isinstance(requirement, str) else requirement
        for name in names:
            try:
                pins.append(f"{name}=={metadata.version(name).split('+', 1)[0]}")
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            pins.append(names[0])
    return pins
