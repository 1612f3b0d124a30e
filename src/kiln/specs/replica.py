"""The contract between the endpoint control plane and a scoring replica: a spec, so that
neither program imports the other (``BatchingSettings`` is also a deployment's ``batching``).

The replica launcher (``kiln.serving.control``) writes one ``ReplicaConfig`` as JSON and starts
``python -m kiln.serving.replica CONFIG.json``; the replica listens on ``host:port`` and
answers, at least:

- ``GET /v2/health/live``, ``GET /v2/health/ready`` (200 only once the model is loaded and
  ``init()`` has run), ``GET /v2/models/{model}``, ``GET /v2/models/{model}/ready``,
  ``POST /v2/models/{model}/infer`` (Open Inference Protocol V2, JSON and binary tensors),
- ``POST /score`` (Azure-style JSON, ``input_data``; or whatever a scoring script's
  ``run(raw_data)`` accepts),
- ``POST /invocations`` (MLflow's bodies and CSV),
- ``GET /metrics`` (Prometheus text: the replica's own request counts, errors, latency).

The gateway forwards a request to one replica with the path below the endpoint unchanged. The
replica answers only requests that carry ``secret`` in ``x-kiln-internal-secret``
(``kiln.internal_secret``): the gateway's and the controller's probes. The launcher writes the
file with mode 0600, and the controller reads the secret back from it when it re-adopts the
replica after a restart of the server.

Standalone mode (a packaged replica in a container, with no gateway in front): ``endpoint_keys``
instead of ``secret``. The replica then answers a request carrying ``Authorization: Bearer KEY``
where the SHA-256 of KEY is one of the hashes it was given (a file, or an environment variable
from a Kubernetes Secret; never the plain keys), and its two health routes without a key, for
the container's probes (``kiln.serving.replica.endpoint_keys``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kiln.specs.bounded import (
    MAX_BATCH_SIZE,
    MAX_ENCRYPTED_CONTEXTS,
    MAX_ENCRYPTED_REQUEST_MB,
    MAX_ONNX_THREADS,
    MAX_QUEUE_DELAY_MS,
)

RUNTIMES = {
    "native": "the model's own flavor through MLflow's pyfunc (the default)",
    "onnx": "ONNX Runtime: an ONNX model as it is, an sklearn or PyTorch model converted when its replica "
    "starts, with a parity check",
}


class BatchingSettings(BaseModel):
    """Adaptive batching (Triton's dynamic batcher is the reference): concurrent requests are
    merged into one predict call of up to ``max_batch_size`` rows (rows, not requests: a request
    is never split, and one larger than the limit predicts alone), waiting at most
    ``max_queue_delay_ms`` for more; ``max_batch_size: 1`` turns it off."""

    model_config = ConfigDict(extra="forbid")

    # 1,024 rows: sixteen 64-row requests share a predict call (32 left each alone: 5.4x fewer req/s);
    # single rows batch as before
    max_batch_size: int = Field(1024, ge=1, le=MAX_BATCH_SIZE)
    max_queue_delay_ms: float = Field(2.0, ge=0, le=MAX_QUEUE_DELAY_MS, allow_inf_nan=False)


KEY_HASHES_VARIABLE = "KILN_ENDPOINT_KEY_HASHES"
HOST_VARIABLE = "KILN_REPLICA_HOST"  # standalone mode only: where to listen, over the config's host and port
PORT_VARIABLE = "KILN_REPLICA_PORT"


class EndpointKeyAuth(BaseModel):
    """Standalone mode: the endpoint keys' SHA-256 hex digests, from ``variable`` (comma-separated) when it is
    set and not empty, else from ``hashes_file`` (one a line; relative to the working folder)."""

    model_config = ConfigDict(extra="forbid")

    hashes_file: Path | None = None
    variable: str = KEY_HASHES_VARIABLE


class OnnxRuntimeSettings(BaseModel):
    """How a replica runs an ONNX graph (a model with the onnx flavor, or ``runtime: onnx``): every
    graph optimisation, on the CPU. One thread per operator and one operator at a time by default:
    a replica is one scoring thread, and ``instance_count`` adds cores by adding replicas."""

    model_config = ConfigDict(extra="forbid")

    intra_op_threads: int = Field(
        1,
        ge=0,
        le=MAX_ONNX_THREADS,
        description="threads one operator may use (0: ONNX Runtime's choice, one per core)",
    )
    inter_op_threads: int = Field(
        1, ge=0, le=MAX_ONNX_THREADS, description="operators run at once; above 1, parallel execution of the graph"
    )
    parity_tolerance: float | None = Field(
        None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="runtime: onnx: the largest |difference| allowed between the model's and the ONNX graph's "
        "scores (None: the conversion's documented default)",
    )


class EncryptionSettings(BaseModel):
    """``encryption: {scheme: ckks}``: the deployment scores only homomorphically encrypted requests
    (kiln.encrypted; docs/encrypted-inference.md). The CKKS parameters follow from the model's depth at
    128-bit security; these fields bound what one deployment's replica keeps and reads."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["ckks"] = "ckks"
    max_contexts: int = Field(
        16, ge=1, le=MAX_ENCRYPTED_CONTEXTS, description="public client contexts kept in memory per replica"
    )
    context_ttl_s: int = Field(
        3600, ge=10, le=86_400, description="a context is forgotten this long after its last use"
    )
    max_context_mb: int = Field(64, ge=1, le=1024, description="all kept contexts together, in MiB")
    max_request_mb: int = Field(
        256, ge=1, le=MAX_ENCRYPTED_REQUEST_MB, description="one request's body (its ciphertexts), in MiB"
    )
    max_ciphertexts: int = Field(2048, ge=1, le=65_536, description="ciphertexts in one request")


class ReplicaConfig(BaseModel):
    endpoint: str
    deployment: str
    replica_index: int = 0
    host: str = "127.0.0.1"
    port: int
    secret: str | None = Field(
        None,
        repr=False,
        min_length=16,
        description="the gateway's secret for this replica; it answers no request without it",
    )
    endpoint_keys: EndpointKeyAuth | None = Field(
        None, description="standalone mode (no gateway): callers send an endpoint key; exclusive with secret"
    )
    model_name: str = Field(description="The name V2 clients use in /v2/models/{model}")
    model_version: str = "1"
    model_dir: Path | None = Field(None, description="The model's files (the file, or the folder): KILN_MODEL_DIR")
    azureml_model_dir: Path | None = Field(
        None,
        description="AZUREML_MODEL_DIR, Azure's layout: the folder that holds the model under the name it was "
        "registered from (model.pkl, model/); None: model_dir",
    )
    code_dir: Path | None = Field(None, description="code_configuration.code, copied")
    scoring_script: str | None = Field(None, description="relative to code_dir; defines init() and run(raw_data)")
    environment_variables: dict[str, str] = Field(default_factory=dict)
    request_timeout_ms: int = Field(5000, ge=1)
    max_concurrent_requests: int = Field(
        64,
        ge=1,
        description="per replica (request_settings.max_concurrent_requests_per_instance); more waiting requests get 429",
    )
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    runtime: str = Field("native", description="a key of RUNTIMES; onnx converts a non-ONNX model at load")
    onnx: OnnxRuntimeSettings = Field(default_factory=OnnxRuntimeSettings)
    encryption: EncryptionSettings | None = Field(None, description="scores only CKKS ciphertexts (kiln.encrypted)")

    @model_validator(mode="after")
    def _one_way_in(self) -> ReplicaConfig:
        if (self.secret is None) == (self.endpoint_keys is None):
            raise ValueError("a replica needs exactly one of 'secret' (behind kiln's gateway) and 'endpoint_keys'")
        return self
