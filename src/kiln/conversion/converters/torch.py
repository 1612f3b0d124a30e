"""PyTorch through ``torch.onnx.export`` (the dynamo exporter, which needs onnxscript), the batch axis dynamic.

The model must take one tensor (its signature's) and answer one tensor; the export traces it with the input
example's first rows."""

from __future__ import annotations

from typing import Any

from kiln.conversion.converters import EXTRA, Converted, Predictions, versions
from kiln.conversion.source import SourceModel
from kiln.errors import UnsupportedModel
from kiln.extras import require_extra

NEEDED_BY = "converting a PyTorch model to ONNX"
INPUT, OUTPUT = "input", "output"


def convert(source: SourceModel, opset: int | None) -> Converted:
    import mlflow.pytorch
    import numpy as np

    require_extra(EXTRA, "onnxscript", needed_by=NEEDED_BY)
    torch = require_extra("torch", needed_by=NEEDED_BY)
    if not source.is_tensor:
        raise UnsupportedModel(
            "model: a PyTorch model with a column signature; kiln converts PyTorch models whose signature is one "
            "tensor (kiln.integrations.torch.save_model infers one from an example array)"
        )
    module = mlflow.pytorch.load_model(str(source.folder), map_location="cpu")
    try:
        module.eval()  # a pickled nn.Module; a pt2 program's module was exported in eval mode and refuses the call
    except (AttributeError, NotImplementedError):
        pass
    example = (
        source.example
        if source.example is not None
        else np.zeros(
            (2, *[max(d, 1) for d in (source.tensor_shape or (-1,))[1:]]), dtype=source.tensor_dtype or "float32"
        )
    )
    traced_with = torch.from_numpy(np.ascontiguousarray(example[:2] if len(example) >= 2 else np.repeat(example, 2, 0)))
    name = source.tensor_name or INPUT
    try:
        program = torch.onnx.export(
            module, (traced_with,), dynamo=True, input_names=[name], output_names=[OUTPUT],
            dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=opset, verbose=False,
        )  # fmt: skip
    except Exception as exc:  # the exporter names the operator it has no translation for
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedModel(
            f"model: torch.onnx.export (torch {torch.__version__}) cannot export {type(module).__name__}: "
            f"{detail[:400]}. It exports modules built from PyTorch's operators with an ONNX translation "
            "(nn layers, tensor arithmetic); custom autograd functions and Python control flow on tensor values "
            "do not export"
        ) from None

    def predict_source(rows: Any) -> Predictions:
        with torch.no_grad():
            output = module(torch.from_numpy(np.ascontiguousarray(rows)))
        if not isinstance(output, torch.Tensor):
            raise UnsupportedModel(
                f"model: it answers {type(output).__name__}; kiln converts models answering one tensor"
            )
        values = output.detach().cpu().numpy()
        return Predictions(scores=values.reshape(len(values), -1))

    return Converted(program.model_proto, versions("torch", "onnxscript", "onnx"), predict_source)
