"""ONNX conversion with a parity proof (the ``onnx`` extra): ``kiln model convert``, ``models.convert``,
the job kind ``model_conversion``, and ``convert.convert_to_onnx`` for the other parts of kiln.

- ``convert``: ``convert_to_onnx(source, target, …) -> ConversionReport``; ``source``: the source model's
  flavor, signature, example and generated rows; ``converters/``: one module per family of flavors;
  ``parity``: the proof; ``report``: the report and the tags a converted version carries;
- ``job_kind``: the ``model_conversion`` spec and handler; ``job``: the job's process;
- ``api``, ``router``, ``service``: REST ``models.convert``, which submits a ``model_conversion`` job.
"""

from kiln.capabilities import Capability
from kiln.specs.job_kind_declarations import JobKind

CAPABILITY = Capability(
    name="conversion",
    summary="registered models converted to ONNX, with a parity proof, in a tracked job",
    extra="onnx",
    modules=("onnx", "onnxruntime", "skl2onnx"),
    api="kiln.conversion.api",
    router="kiln.conversion.router:conversion_router",
    service="kiln.conversion.service:ConversionService",
    job_kinds=(
        JobKind(
            "model_conversion",
            spec="kiln.conversion.job_kind:ModelConversionJobSpec",
            handler="kiln.conversion.job_kind:ModelConversionHandler",
            description="a registered model converted to ONNX with a parity proof, registered as NAME-onnx",
        ),
    ),
)
