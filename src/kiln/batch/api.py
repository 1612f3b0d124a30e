"""The batch capability's REST operations, declared as kiln.api's are (no server imported here).

An invocation (``batch_endpoints.invoke``) is a workspace user's call with their API token, contributor or owner:
Azure's batch endpoints take a Microsoft Entra token of a workspace user, never an endpoint key; kiln's token is
that credential (``auth_mode: aad_token``)."""

from __future__ import annotations

from kiln.api.operation import NO_CONTENT, Operation
from kiln.batch.spec import (
    BatchDeploymentSpec,
    BatchDeploymentView,
    BatchEndpointSpec,
    BatchEndpointView,
    BatchInvokeRequest,
)
from kiln.errors import AlreadyExists, Conflict, NotFound
from kiln.specs.roles import Role
from kiln.specs.views import JobView

CREATE = Operation(
    "batch_endpoints.create", "POST", "/api/v1/batch-endpoints",
    summary="Create a batch endpoint",
    role=Role.CONTRIBUTOR, action="creating batch endpoints",
    response=BatchEndpointView, status_code=201, body=BatchEndpointSpec, errors=(AlreadyExists,),
)  # fmt: skip
LIST = Operation(
    "batch_endpoints.list", "GET", "/api/v1/batch-endpoints",
    summary="List batch endpoints",
    role=Role.READER, action="listing batch endpoints",
    response=list[BatchEndpointView],
)  # fmt: skip
SHOW = Operation(
    "batch_endpoints.show", "GET", "/api/v1/batch-endpoints/{name}",
    summary="Read a batch endpoint",
    role=Role.READER, action="reading batch endpoints",
    response=BatchEndpointView, errors=(NotFound,),
)  # fmt: skip
DELETE = Operation(
    "batch_endpoints.delete", "DELETE", "/api/v1/batch-endpoints/{name}",
    summary="Delete a batch endpoint and its deployments (its jobs are kept)",
    role=Role.CONTRIBUTOR, action="deleting batch endpoints",
    response=NO_CONTENT, status_code=204, errors=(NotFound,),
)  # fmt: skip
INVOKE = Operation(
    "batch_endpoints.invoke", "POST", "/api/v1/batch-endpoints/{name}/jobs",
    summary="Invoke a batch endpoint: score a data set as a batch_scoring job",
    description="Submits a ``batch_scoring`` job running the named deployment (else the endpoint's default) over "
    "``input`` and answers it; its output ``predictions`` holds the predictions. Every check (the deployment, the "
    "input) is made before the job is recorded.",
    role=Role.CONTRIBUTOR, action="invoking batch endpoints",
    response=JobView, status_code=201, body=BatchInvokeRequest, errors=(NotFound,),
)  # fmt: skip
LIST_JOBS = Operation(
    "batch_endpoints.list_jobs", "GET", "/api/v1/batch-endpoints/{name}/jobs",
    summary="The jobs of a batch endpoint's invocations, newest first",
    role=Role.READER, action="listing batch endpoint jobs",
    response=list[JobView], errors=(NotFound,),
)  # fmt: skip

CREATE_DEPLOYMENT = Operation(
    "batch_deployments.create", "POST", "/api/v1/batch-endpoints/{name}/deployments",
    summary="Create (or replace) a batch deployment",
    description="``set_default``: the endpoint's default deployment from now on (the first one is the default).",
    role=Role.CONTRIBUTOR, action="creating batch deployments",
    response=BatchDeploymentView, status_code=201, body=BatchDeploymentSpec, query=("set_default",),
    errors=(NotFound,),
)  # fmt: skip
LIST_DEPLOYMENTS = Operation(
    "batch_deployments.list", "GET", "/api/v1/batch-endpoints/{name}/deployments",
    summary="List a batch endpoint's deployments",
    role=Role.READER, action="listing batch deployments",
    response=list[BatchDeploymentView], errors=(NotFound,),
)  # fmt: skip
SHOW_DEPLOYMENT = Operation(
    "batch_deployments.show", "GET", "/api/v1/batch-endpoints/{name}/deployments/{deployment}",
    summary="Read a batch deployment",
    role=Role.READER, action="reading batch deployments",
    response=BatchDeploymentView, errors=(NotFound,),
)  # fmt: skip
DELETE_DEPLOYMENT = Operation(
    "batch_deployments.delete", "DELETE", "/api/v1/batch-endpoints/{name}/deployments/{deployment}",
    summary="Delete a batch deployment",
    description="The endpoint's default deployment is refused while others remain: make another the default first.",
    role=Role.CONTRIBUTOR, action="deleting batch deployments",
    response=NO_CONTENT, status_code=204, errors=(NotFound, Conflict),
)  # fmt: skip
