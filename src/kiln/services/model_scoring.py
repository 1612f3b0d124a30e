"""Scoring two model versions on a data asset's rows for ``models.compare`` (``kiln model compare --data``).

Everything about the request is checked here first, before anything is scored: the data reference names a stored
data asset (``kiln:NAME:VERSION`` or ``kiln:NAME@latest``, resolved as a job input's is), the caller may read its rows
(a private version: owners only, ``ensure_raw_access``), it is stored in the workspace (not a reference to remote
storage), and a single file's header holds the label column. Then the versions' files and the data's are copied
into a folder of their own, and ``python -m kiln.model_scoring.process`` scores them in a child process, in the job
sandbox where one works (as jobs run: ``kiln.runners.local.sandbox``): a user's model never runs in the server's
own process, and the child sees that folder alone of ``KILN_HOME``. It has ``TIMEOUT_SECONDS``; its rows are
bounded (``kiln.model_scoring.process.MAX_ROWS``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.errors import InvalidSpec, KilnError, Unavailable
from kiln.extras import check_extra
from kiln.processes import child_environment
from kiln.runners.local.sandbox import SandboxView, readable_paths, without_server_credentials
from kiln.services import data_preview
from kiln.services.data import ensure_raw_access
from kiln.specs.references import is_asset_reference, parse_asset_reference

if TYPE_CHECKING:
    from kiln.artifacts.store import ArtifactStore
    from kiln.runners.local.sandbox import JobSandbox
    from kiln.services.data import DataService
    from kiln.specs.model_compare import CompareRequest
    from kiln.specs.roles import Role
    from kiln.store.tables import DataAssetRow

TIMEOUT_SECONDS = 300
PROCESS = "kiln.model_scoring.process"


class ModelScoring:
    def __init__(self, data: DataService, store: ArtifactStore, sandbox: JobSandbox | None, work: Path) -> None:
        self._data = data
        self._store = store
        self._sandbox = sandbox
        self._work = work

    def check(self, request: CompareRequest, role: Role | None) -> DataAssetRow:
        """The data version to score on, once every check that needs no model has passed."""
        reference_text = request.data or ""
        if not is_asset_reference(reference_text):
            raise InvalidSpec(
                f"data: {reference_text!r} is not a data asset; write kiln:NAME:VERSION or kiln:NAME@latest"
            )
        row = self._data.for_input(parse_asset_reference(reference_text, "data"), "data")
        ensure_raw_access(row, role, "scoring models on its rows")
        if row.remote_path:
            raise InvalidSpec(
                f"data: {row.name}:{row.version} is a reference to {row.remote_path}; a scored comparison reads rows "
                "stored in the workspace: register a copy (kiln data create --path FILE)"
            )
        check_extra("sklearn", ("sklearn",), needed_by="kiln model compare --data")
        if row.type == "uri_file":
            columns = data_preview.preview(self._store, row, limit=1).columns
            if columns and request.label not in columns:
                raise InvalidSpec(
                    f"label: data asset {row.name}:{row.version} has no column '{request.label}' (its columns: "
                    f"{', '.join(columns[:30])}); name its column of true answers"
                )
        return row

    def score(
        self, row: DataAssetRow, models: dict[str, tuple[str, str]], request: CompareRequest
    ) -> tuple[int, dict[str, dict[str, float]]]:
        """How many rows were scored, and each role's (``models``: role → (name, version)) metrics."""
        from kiln.services.deployment_files import download_model_version

        self._work.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="compare-", dir=self._work))
        try:
            inputs = root / "inputs"
            for role, (name, version) in models.items():
                download_model_version(name, version, inputs / role)
            self._store.get(row.store_key, inputs / "data")
            command = [sys.executable, "-m", PROCESS, "--data", str(inputs / "data"), "--label", str(request.label)]
            command += [word for role in models for word in ("--model", f"{role}={inputs / role}")]
            command += [word for gate in request.metrics for word in ("--metric", gate.name)]
            answer = self._run(root, command)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        if "error" in answer:
            raise InvalidSpec(str(answer["error"]))  # the request's problem, in the process's words
        return int(answer["rows"]), answer["metrics"]

    def _run(self, root: Path, command: list[str]) -> dict:
        env = without_server_credentials(child_environment())
        for folder in ("wd", "tmp", "home"):
            (root / folder).mkdir()
        if self._sandbox is not None and self._sandbox.availability().available:
            view = SandboxView(root, readable_paths(Path(sys.executable).parent, env.get("PYTHONPATH", "")))
            self._sandbox.prepare_folder(view)
            env, command = self._sandbox.environment(env, view), [*self._sandbox.command(view), *command]
        else:
            env |= {"HOME": str(root / "home"), "TMPDIR": str(root / "tmp")}
        with subprocess.Popen(
            command, cwd=root / "wd", env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        ) as child:  # fmt: skip
            try:
                stdout, stderr = child.communicate(timeout=TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # the sandbox's processes too: they share the group
                child.communicate()
                raise Unavailable(
                    f"scoring the models took longer than {TIMEOUT_SECONDS} s; score a smaller held-out sample"
                ) from None
        lines = stdout.decode(errors="replace").strip().splitlines()
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError):
            tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise KilnError(
                f"the scoring process ended with exit code {child.returncode} without an answer: {' / '.join(tail)}"
            ) from None
