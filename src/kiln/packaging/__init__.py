"""Models out as files: Docker build contexts, Kubernetes manifests and Triton model repositories
(the capability ``packaging``; ``kiln model package``, ``kiln model export``, ``kiln online-deployment package``).

- ``docker``: a build context serving a model version or a deployment with kiln's own replica command
  (``requirements``: the pinned requirements; ``wheel``: kiln's wheel, built from the running kiln);
- ``kubernetes``: a deployment's manifests (Deployment, Service, Secret of key hashes, HorizontalPodAutoscaler);
- ``triton``: an ONNX model's Triton repository (``config.pbtxt`` from the ONNX graph);
- ``service``/``router``/``api``: the REST operations, each answering a gzip tar (``archive``).

Everything is made on the server from files (MLmodel, requirements, the ONNX protobuf), never by loading a
model. The CLI commands live in ``kiln.cli.models`` and ``kiln.cli.endpoints``, the SDK methods in
``kiln.sdk.models`` and ``kiln.sdk.endpoints``; the SDK unpacks with ``kiln.sdk.packages``.
"""

from kiln.capabilities import Capability

CAPABILITY = Capability(
    name="packaging",
    summary="models out as files: Docker build contexts, Kubernetes manifests, Triton model repositories",
    api="kiln.packaging.api",
    router="kiln.packaging.router:packaging_router",
    service="kiln.packaging.service:PackagingService",
)
