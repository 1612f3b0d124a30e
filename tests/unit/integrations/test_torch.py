"""kiln.integrations.torch: device choice, seeding, TensorBoard folders, and saved models that
take any batch size, carry a signature, and leave the trained model as it was."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from tensorboard.compat.proto.event_pb2 import Event
from torch import nn

from kiln.integrations import torch as kiln_torch


class FlatPixels(nn.Module):
    """Flat rows of 64 values in, reshaped to 1x8x8 inside, as the digits example does."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(2 * 8 * 8, 3)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        images = pixels.reshape(-1, 1, 8, 8).to(torch.float32)
        return torch.softmax(self.head(self.dropout(self.conv(images).flatten(1))), dim=1)


def test_device_follows_cuda_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert kiln_torch.device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert kiln_torch.device().type == "cuda"


def test_seed_repeats_draws_and_sets_deterministic_cublas_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kiln_torch.CUBLAS_WORKSPACE_VARIABLE, raising=False)
    try:
        kiln_torch.seed(7)
        first = (torch.rand(3), np.random.rand(3))
        kiln_torch.seed(7)
        again = (torch.rand(3), np.random.rand(3))
        assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])
        assert torch.are_deterministic_algorithms_enabled()
        assert kiln_torch.CUBLAS_WORKSPACE_SETTING == ":4096:8"
        assert os.environ[kiln_torch.CUBLAS_WORKSPACE_VARIABLE] == ":4096:8"
        monkeypatch.setenv(kiln_torch.CUBLAS_WORKSPACE_VARIABLE, ":16:8")
        kiln_torch.seed(7, deterministic=False)
        assert os.environ[kiln_torch.CUBLAS_WORKSPACE_VARIABLE] == ":16:8"  # a user's own setting stays
    finally:
        torch.use_deterministic_algorithms(False)


def tensorboard_scalars(folder: Path) -> list[tuple[str, int, float]]:
    """The scalar summaries of the event files in ``folder``, read as TFRecords without TensorFlow."""
    found = []
    for path in folder.glob("events.out.tfevents.*"):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            found += [(value.tag, event.step, value.simple_value) for value in event.summary.value]
    return found


def test_tensorboard_writer_writes_below_the_jobs_log_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_TENSORBOARD_DIR", str(tmp_path / "tb"))
    with kiln_torch.tensorboard_writer("fine-tuned") as board:
        board.add_scalar("train_loss", 0.5, 1)
        board.add_scalar("train_loss", 0.25, 2)
    assert board.folder == tmp_path / "tb" / "fine-tuned"
    assert tensorboard_scalars(board.folder) == [("train_loss", 1, 0.5), ("train_loss", 2, 0.25)]


def test_save_model_signature_any_batch_size_and_model_left_as_it_was(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = FlatPixels()
    model.train()
    pixels = np.random.default_rng(0).integers(0, 17, size=(10, 64)).astype(np.float64)
    kiln_torch.save_model(model, tmp_path / "model", pixels)

    assert model.training  # back in training mode after an eval-mode export
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    schema = loaded.metadata.get_input_schema()
    assert schema.is_tensor_spec()
    assert [(spec.type, spec.shape) for spec in schema.inputs] == [(np.dtype("float64"), (-1, 64))]
    assert loaded.metadata.get_output_schema().inputs[0].shape == (-1, 3)
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(pixels)).numpy()
    for rows in (1, 7, 10):  # the example had 5 rows; the exported batch size is free
        np.testing.assert_allclose(loaded.predict(pixels[:rows]), expected[:rows], rtol=1e-5)
    requirements = (tmp_path / "model" / "requirements.txt").read_text()
    assert f"torch=={torch.__version__.split('+')[0]}\n" in requirements and "+cpu" not in requirements
    assert (tmp_path / "model" / "input_example.json").is_file()


def test_log_model_logs_to_the_active_run_with_a_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    pixels = torch.rand(6, 64, dtype=torch.float64) * 16  # a tensor example works too
    with mlflow.start_run() as run:
        info = kiln_torch.log_model(FlatPixels(), "digits", pixels)
    assert info.run_id == run.info.run_id
    assert info.signature is not None and info.signature.inputs.inputs[0].shape == (-1, 64)
    assert mlflow.pyfunc.load_model(info.model_uri).predict(pixels.numpy()[:4]).shape == (4, 3)


def test_save_model_refuses_a_single_row_example(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2 rows"):
        kiln_torch.save_model(FlatPixels(), tmp_path / "model", torch.zeros(1, 64))
    assert not (tmp_path / "model").exists()


def test_importing_the_integration_imports_no_framework_until_used() -> None:
    code = "import sys, kiln.integrations.torch; print([m for m in ('torch', 'mlflow', 'tensorboard') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
