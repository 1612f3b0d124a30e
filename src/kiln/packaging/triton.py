"""A Triton model repository from an ONNX model: ``NAME/config.pbtxt`` and ``NAME/1/model.onnx``.

The config says what Triton's ``onnxruntime_onnx`` backend needs, read from the ONNX graph's protobuf (no
model is run or unpickled): each input and output with its name, data type and dims; ``max_batch_size``
with the first axis as the batch axis when every tensor's first axis is dynamic (otherwise 0: no batching);
``dynamic_batching``; an ``instance_group`` of kind GPU or CPU. A tensor whose only axis is the batch axis
(a label per row, ``[N]``) is declared ``dims: [1]`` with ``reshape: { shape: [] }``, Triton's way to batch
a per-row scalar.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kiln.artifacts.references import relative_path
from kiln.errors import InvalidSpec
from kiln.extras import require_extra
from kiln.specs.yaml_source import load_yaml

InstanceKind = Literal["gpu", "cpu"]
DEFAULT_MAX_BATCH_SIZE = 8
DEFAULT_QUEUE_DELAY_US = 100
TRITON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
# ONNX TensorProto.DataType → Triton's DataType (model_config.proto)
TRITON_TYPES = {
    1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16", 6: "TYPE_INT32",
    7: "TYPE_INT64", 8: "TYPE_STRING", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64", 12: "TYPE_UINT32",
    13: "TYPE_UINT64", 16: "TYPE_BF16",
}  # fmt: skip


@dataclass(frozen=True)
class TensorConfig:
    name: str
    data_type: str
    dims: tuple[int, ...]  # without the batch axis when the model batches; -1: any size
    reshape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class TritonOptions:
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    instance_kind: InstanceKind = "gpu"
    instance_count: int = 1
    max_queue_delay_us: int = DEFAULT_QUEUE_DELAY_US


def onnx_file_of(model_dir: Path, model: str) -> Path:
    """The ONNX file of an MLflow model folder with the ``onnx`` flavor (MLmodel's ``flavors.onnx.data``)."""
    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise InvalidSpec(
            f"model {model} is not an MLflow model (no MLmodel file): a Triton export needs an ONNX model"
        )
    _, data = load_yaml(mlmodel.read_text(), f"{model}'s MLmodel")
    flavors = (data.get("flavors") if isinstance(data, dict) else None) or {}
    onnx = flavors.get("onnx") if isinstance(flavors, dict) else None
    if not isinstance(onnx, dict):
        known = ", ".join(sorted(flavors)) if isinstance(flavors, dict) else "none"
        raise InvalidSpec(
            f"model {model} has no onnx flavor (its flavors: {known}); Triton export takes an ONNX model: convert it "
            "first (kiln model convert --to onnx) and export the converted version"
        )
    named = relative_path(str(onnx.get("data") or "model.onnx"), f"{model}'s MLmodel flavors.onnx.data")
    path = model_dir / named
    if not path.is_file() or path.is_symlink():
        raise InvalidSpec(f"model {model}: its MLmodel names the ONNX file '{named}', which is not in its files")
    return path


def write_triton_repository(dest: Path, name: str, onnx_file: Path, options: TritonOptions) -> None:
    """``dest/NAME/config.pbtxt`` and ``dest/NAME/1/model.onnx`` (and the graph's external data files beside it)."""
    if not TRITON_NAME.match(name):
        raise InvalidSpec(f"name: '{name}' cannot name a Triton model folder: letters, digits, '.', '_' and '-' only")
    onnx = require_extra("onnx", needed_by="kiln model export --to triton")
    model = onnx.load(str(onnx_file), load_external_data=False)
    inputs, outputs = graph_tensors(model)
    batch = options.max_batch_size if all(_batches(t) for t in (*inputs, *outputs)) else 0
    folder = dest / name
    (folder / "1").mkdir(parents=True)
    shutil.copyfile(onnx_file, folder / "1" / "model.onnx")
    for location in _external_data(model, onnx):
        target = relative_path(location, f"the ONNX graph's external data location '{location}'")
        source = onnx_file.parent / target
        if not source.is_file() or source.is_symlink():
            raise InvalidSpec(f"the ONNX graph's external data '{target}' is not among the model's files")
        (folder / "1" / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / "1" / target)
    configs_in = [_tensor_config(t, batch > 0) for t in inputs]
    configs_out = [_tensor_config(t, batch > 0) for t in outputs]
    (folder / "config.pbtxt").write_text(config_text(name, batch, configs_in, configs_out, options))


def graph_tensors(model: Any) -> tuple[list[Any], list[Any]]:
    """The graph's real inputs (initializers listed as inputs left out) and its outputs; a non-tensor one refused."""
    initializers = {initializer.name for initializer in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    for value in (*inputs, *model.graph.output):
        kind = value.type.WhichOneof("value")
        if kind != "tensor_type":
            raise InvalidSpec(
                f"the ONNX graph's '{value.name}' is a {kind.replace('_type', '') if kind else 'value of no type'}, "
                "not a tensor; Triton's onnxruntime backend serves tensors only: convert without it (for a "
                "scikit-learn classifier, skl2onnx's option zipmap=False gives the probabilities as a tensor)"
            )
        if value.type.tensor_type.elem_type not in TRITON_TYPES:
            raise InvalidSpec(
                f"the ONNX graph's '{value.name}' has element type {value.type.tensor_type.elem_type}, "
                f"which Triton has no type for (it has: {', '.join(sorted(set(TRITON_TYPES.values())))})"
            )
    return inputs, list(model.graph.output)


def _dims(value: Any) -> list[int]:
    return [d.dim_value if d.WhichOneof("value") == "dim_value" else -1 for d in value.type.tensor_type.shape.dim]


def _batches(value: Any) -> bool:
    dims = _dims(value)
    return bool(dims) and dims[0] == -1


def _tensor_config(value: Any, batched: bool) -> TensorConfig:
    dims = _dims(value)
    data_type = TRITON_TYPES[value.type.tensor_type.elem_type]
    if batched:
        dims = dims[1:]
        if not dims:
            return TensorConfig(value.name, data_type, (1,), reshape=())
    return TensorConfig(value.name, data_type, tuple(dims) or (1,))


def _external_data(model: Any, onnx: Any) -> list[str]:
    locations = []
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            locations += [entry.value for entry in tensor.external_data if entry.key == "location"]
    return list(dict.fromkeys(locations))


def config_text(
    name: str, max_batch_size: int, inputs: list[TensorConfig], outputs: list[TensorConfig], options: TritonOptions
) -> str:
    """config.pbtxt in protobuf text format (Triton's ModelConfig)."""
    lines = [f"name: {_quoted(name)}", 'platform: "onnxruntime_onnx"', f"max_batch_size: {max_batch_size}"]
    for field, tensors in (("input", inputs), ("output", outputs)):
        for tensor in tensors:
            lines += [f"{field} {{", f"  name: {_quoted(tensor.name)}", f"  data_type: {tensor.data_type}"]
            lines.append(f"  dims: [ {', '.join(str(d) for d in tensor.dims)} ]")
            if tensor.reshape is not None:
                lines.append(f"  reshape: {{ shape: [ {', '.join(str(d) for d in tensor.reshape)} ] }}")
            lines.append("}")
    if max_batch_size > 0:
        lines += ["dynamic_batching {", f"  max_queue_delay_microseconds: {options.max_queue_delay_us}", "}"]
    kind = "KIND_GPU" if options.instance_kind == "gpu" else "KIND_CPU"
    lines += ["instance_group {", f"  count: {options.instance_count}", f"  kind: {kind}", "}"]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
