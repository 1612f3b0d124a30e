"""examples/notebooks/quickstart.ipynb executed by nbclient, in a kernel on this venv's Python, against the shared
test workspace (its URL and token in the kernel's environment, which the notebook's ``Client()`` reads): the job
trained and its log followed live in a cell, the model registered, deployed and invoked, the endpoint removed; SDK
objects shown as HTML tables."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME
from nbclient import NotebookClient

from tests.conftest import REPO, WorkspaceServer

NOTEBOOK = REPO / "examples" / "notebooks" / "quickstart.ipynb"


def _outputs(cell: Any, kind: str) -> str:
    """All of a cell's output of one MIME type (``text/html``…) or stream (``stdout``), joined."""
    texts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream" and output["name"] == kind:
            texts.append(output["text"])
        elif kind in output.get("data", {}):
            texts.append(output["data"][kind])
    return "".join(texts)


def _cell(notebook: Any, source_start: str) -> Any:
    return next(cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.startswith(source_start))


def test_the_quickstart_notebook_trains_tracks_registers_deploys_and_invokes(
    workspace: WorkspaceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KILN_URL", workspace.url)
    monkeypatch.setenv("KILN_TOKEN", workspace.token)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert notebook.metadata.kernelspec.name == NATIVE_KERNEL_NAME
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # kept without
    # the native kernel is the Python running the client: this venv's (the kernel inherits the environment above)
    assert sys.executable.startswith(str(REPO)) or ".venv" in sys.executable
    NotebookClient(
        notebook, timeout=600, kernel_name=NATIVE_KERNEL_NAME, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()  # a cell that raises fails here, with its traceback

    plan = _outputs(_cell(notebook, "job_spec = "), "text/html")
    assert "<caption>JobPlanView</caption>" in plan and "pending_uploads" in plan  # the dry run, as a table
    followed = _cell(notebook, "job = client.jobs.create")
    assert "training on 112 rows, testing on 38" in _outputs(followed, "stdout")  # the log, streamed into the cell
    assert "<caption>JobView</caption>" in _outputs(followed, "text/html")
    assert "completed" in _outputs(followed, "text/html")
    assert "test_accuracy" in _outputs(_cell(notebook, "assert job.status"), "text/plain")
    assert re.search(r"<caption>[1-5] × JobView</caption>", _outputs(_cell(notebook, "client.jobs.list"), "text/html"))
    assert "quickstart-iris" in _outputs(_cell(notebook, "client.models.get"), "text/html")
    assert "<caption>OnlineDeploymentView</caption>" in _outputs(
        _cell(notebook, "client.online_endpoints.create"), "text/html"
    )
    assert "predictions: [0, 1, 2]" in _outputs(_cell(notebook, "sample = "), "stdout")
    endpoints = _outputs(_cell(notebook, "client.online_endpoints.list"), "text/html")
    assert re.search(r"<caption>\d+ × OnlineEndpointView</caption>", endpoints) and ">quickstart<" in endpoints

    with workspace.client() as client:  # what the notebook made, seen from outside it
        assert [m.name for m in client.models.list() if m.name == "quickstart-iris"] == ["quickstart-iris"]
        assert "quickstart" not in {endpoint.name for endpoint in client.online_endpoints.list()}
