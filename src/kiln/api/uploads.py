"""Uploads: local folders and files become ``upload:<hash>`` references that jobs, data assets,
models and deployments name."""

from __future__ import annotations

from kiln.api.operation import BYTES, Operation
from kiln.api.paths import UPLOADS
from kiln.specs.roles import Role
from kiln.specs.views import UploadView

CREATE = Operation(
    "uploads.create", "POST", UPLOADS,
    summary="Upload a folder or a file",
    description="Send a tar archive (optionally gzipped) of a code folder or input; get a reference to use in a job.",
    role=Role.CONTRIBUTOR, action="uploading files",
    response=UploadView, status_code=201, raw_body=BYTES, query=("kind",),
    limit="uploads",
    audited=False,  # content-addressed bytes that nothing names until a create, which is audited, names them
)  # fmt: skip
