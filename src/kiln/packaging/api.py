"""The packaging capability's REST operations (declarations only: the SDK and the server both read them).

Each answers a gzip-compressed tar of files to unpack into a folder; nothing in it is run on the server.
Reading a model version's package or export needs what downloading the model needs (reader); a deployment's
package holds the hashes of its endpoint's keys, so it needs what reading those keys needs (contributor).
"""

from __future__ import annotations

from kiln.api.operation import Operation
from kiln.specs.roles import Role

GZIP_TAR = "application/gzip"
LIMIT = "downloads"

PACKAGE_MODEL = Operation(
    "models.package", "GET", "/api/v1/models/{name}/versions/{version}/package",
    summary="A model version as a Docker build context",
    description="``to=docker``: a build context (Dockerfile, pinned requirements, kiln's wheel, the model, the "
    "replica's config) as a gzip tar. ``version`` may also be ``latest`` or an alias.",
    role=Role.READER, action="downloading models",
    response=bytes, media_type=GZIP_TAR, query=("to",), limit=LIMIT,
)  # fmt: skip
EXPORT_MODEL = Operation(
    "models.export", "GET", "/api/v1/models/{name}/versions/{version}/export",
    summary="An ONNX model version as a Triton model repository",
    description="``to=triton``: ``NAME/config.pbtxt`` and ``NAME/1/model.onnx`` as a gzip tar. "
    "``instance_kind``: gpu (default) or cpu; ``max_batch_size`` (0: no batching); ``instance_count``.",
    role=Role.READER, action="downloading models",
    response=bytes, media_type=GZIP_TAR, query=("to", "max_batch_size", "instance_kind", "instance_count"),
    limit=LIMIT,
)  # fmt: skip
PACKAGE_DEPLOYMENT = Operation(
    "deployments.package", "GET", "/api/v1/online-endpoints/{name}/deployments/{deployment}/package",
    summary="A deployment as a Docker build context or Kubernetes manifests",
    description="``to=docker``: a build context for the deployment's model, code and settings; "
    "``to=kubernetes``: Deployment, Service, Secret (the endpoint's key hashes) and, with ``autoscale=MIN,MAX``, "
    "a HorizontalPodAutoscaler, for the image named by ``image``. Both hold the SHA-256 of the endpoint's keys, "
    "never the keys.",
    role=Role.CONTRIBUTOR, action="reading endpoint keys",
    response=bytes, media_type=GZIP_TAR, query=("to", "image", "autoscale"), limit=LIMIT,
)  # fmt: skip
