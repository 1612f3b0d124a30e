"""``Client().jobs``: submit jobs (of any registered kind) from YAML or specs, follow, cancel, download, read metric histories."""

from __future__ import annotations

import builtins
import io
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, overload

from kiln import api
from kiln.errors import InvalidSpec, KilnError
from kiln.sdk.rest import RestClient
from kiln.sdk.stream_reader import StreamReader
from kiln.specs.html_tables import Listing, record_table
from kiln.specs.job_status import JobStatus

if TYPE_CHECKING:  # what submitting needs is imported by prepare_submission: listing jobs does not build it
    from kiln.specs.job import JobSpecBase
    from kiln.specs.model import LineageNode
    from kiln.specs.views import JobFilesView, JobFileView, JobPlanView, JobView, MetricHistory
    from kiln.specs.yaml_source import YamlSource

    SpecLike = str | Path | JobSpecBase | dict[str, Any]


class Job:
    """A handle on one job; ``refresh()`` reads its current state from the workspace.

    A job submitted from a simple YAML file (``kiln.sdk.simple_submit``) holds the server's answer as plain JSON
    until ``view`` is first read (then validated into its ``JobView``): ``kiln job create`` prints it without
    importing pydantic."""

    def __init__(self, operations: JobOperations, view: JobView | dict[str, Any]) -> None:
        self._ops = operations
        self.view = view  # type: ignore[assignment]

    @property
    def view(self) -> JobView:
        if self._view is None:
            from kiln.specs.views import JobView

            self._view = JobView.model_validate(self._answer)
        return self._view

    @view.setter
    def view(self, view: JobView | dict[str, Any]) -> None:
        self._view, self._answer = (None, view) if isinstance(view, dict) else (view, None)

    def view_data(self) -> dict[str, Any]:
        """The view as JSON data (what ``-o json`` prints): the server's answer as it came, when it is held."""
        return self._answer if self._view is None else self._view.model_dump(mode="json")

    def __repr__(self) -> str:
        return f"<Job {self.name} {self.status.value}>"

    def _repr_html_(self) -> str:
        """In Jupyter: the job's view as a table (``kiln.specs.html_tables``)."""
        return record_table(self)

    @property
    def name(self) -> str:
        return self._answer["name"] if self._view is None else self._view.name

    @property
    def id(self) -> str:
        return self._answer["id"] if self._view is None else self._view.id

    @property
    def status(self) -> JobStatus:
        return JobStatus(self._answer["status"]) if self._view is None else self._view.status

    def refresh(self, run_data: bool = False) -> Job:
        self.view = self._ops.get(self.name, run_data=run_data).view
        return self

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> Job:
        """Block until the job has ended (or ``timeout`` seconds have passed: TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.refresh().status.is_terminal:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.name} is still {self.status.value} after {timeout} s")
            time.sleep(poll)
        return self

    @property
    def metrics(self) -> dict[str, float]:
        return self.refresh(run_data=True).view.metrics or {}

    @property
    def params(self) -> dict[str, str]:
        return self.refresh(run_data=True).view.params or {}

    def stream(self, write: Callable[[str], Any] | None = None) -> Job:
        """Print the job's log as it comes (to ``write``; stdout by default, a notebook cell's output in Jupyter)
        until the job ends; then the job, refreshed."""
        self._ops.stream(self.name, write)
        return self.refresh()

    def cancel(self) -> Job:
        self.view = self._ops.cancel(self.name).view
        return self

    def download(self, download_path: str | Path = ".", output_name: str | None = None) -> list[Path]:
        return self._ops.download(self.name, download_path, output_name)


class JobOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    @overload
    def create(self, spec: SpecLike, *, overrides: list[str] | None = None, dry_run: Literal[False] = False) -> Job: ...

    @overload
    def create(self, spec: SpecLike, *, overrides: list[str] | None = None, dry_run: Literal[True]) -> JobPlanView: ...

    def create(self, spec: SpecLike, *, overrides: list[str] | None = None, dry_run: bool = False) -> Job | JobPlanView:
        """Submit a job from a YAML path, a dict or a spec (``CommandJobSpec`` or another kind's); local paths are
        uploaded. ``dry_run``: check everything a submit checks (the server's checks too) and answer what would be
        submitted, resolved and pinned, without submitting, uploading or recording anything."""
        if dry_run:
            return self._rest.call(api.jobs.VALIDATE, json=prepare_submission(self._rest, spec, overrides or [], True))
        if isinstance(spec, str | Path) and not overrides:
            answer = self._create_simple(spec)
            if answer is not None:
                return Job(self, answer)
        body = prepare_submission(self._rest, spec, overrides or [])
        return Job(self, self._rest.call(api.jobs.CREATE, json=body))

    def _create_simple(self, file: str | Path) -> dict[str, Any] | None:
        """The server's answer to the job of a simple YAML file, sent as written (``kiln.sdk.simple_submit``);
        None: the file is not simple (nothing was sent). A refusal is what the client's full check finds first,
        as when it checks before sending, else the server's own."""
        from kiln.capabilities import load_configured_capabilities
        from kiln.sdk.simple_submit import submit_simple

        load_configured_capabilities()  # as prepare_submission: a plug-in that cannot be loaded is refused first
        source, base_dir = _source_of(file)
        try:
            return submit_simple(self._rest, source, base_dir or Path.cwd())
        except KilnError:
            check_submission(source, base_dir, [])  # the error the client would have found before sending
            raise

    def get(self, name: str, run_data: bool = False) -> Job:
        return Job(self, self._rest.call(api.jobs.SHOW, name=name, params={"run_data": run_data}))

    def list(
        self, status: JobStatus | str | None = None, limit: int = 100, tags: Mapping[str, str | None] | None = None
    ) -> list[Job]:
        """The newest ``limit`` jobs; ``tags``: only those with each tag of that value (``None``: with the tag)."""
        from kiln.specs.tag_filters import tag_query

        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = JobStatus(status).value
        if tags:
            params["tag"] = tag_query(tags)
        return Listing(Job(self, view) for view in self._rest.call(api.jobs.LIST, params=params))

    def search(
        self, *, status: JobStatus | str | None = None, experiment: str | None = None, created_by: str | None = None,
        compute: str | None = None, tags: Mapping[str, str | None] | None = None, text: str | None = None,
        sort: str = "-created", offset: int = 0, limit: int = 50,
    ) -> tuple[builtins.list[Job], int]:  # fmt: skip
        """One page of the jobs that match (filtered, sorted and paged by the server) and how many match in all.
        ``sort``: created, duration, name or status, with a ``-`` first for descending. ``tags``: each tag with that
        value (``None``: the job has the tag, whatever its value)."""
        from kiln.specs.tag_filters import tag_query

        params: dict[str, Any] = {"sort": sort, "offset": offset, "limit": limit}
        wanted = {"status": JobStatus(status).value if status else None, "experiment": experiment,
                  "created_by": created_by, "compute": compute, "q": text}  # fmt: skip
        params.update({key: value for key, value in wanted.items() if value})
        if tags:
            params["tag"] = tag_query(tags)
        from kiln.specs.views import JobView

        with self._rest.stream(api.jobs.LIST, params=params) as response:
            views = [JobView.model_validate(item) for item in json.loads(response.read())]
            return Listing(Job(self, view) for view in views), int(response.headers["x-total-count"])

    def rerun(self, name: str) -> Job:
        """A new job like ``name``: same spec, code snapshot and inputs, and its recorded exact environment."""
        return Job(self, self._rest.call(api.jobs.RERUN, name=name))

    def cancel(self, name: str) -> Job:
        return Job(self, self._rest.call(api.jobs.CANCEL, name=name))

    def logs(self, name: str, follow: bool = False) -> Iterator[str]:
        with self._rest.stream(api.jobs.LOGS, name=name, params={"follow": follow}) as response:
            yield from response.iter_text()

    def stream(self, name: str, write: Callable[[str], Any] | None = None) -> None:
        """Copy the job's log to ``write`` (stdout by default) live, until the job ends."""
        out = write or _stdout_write
        for text in self.logs(name, follow=True):
            out(text)

    def download(
        self, name: str, download_path: str | Path = ".", output_name: str | None = None
    ) -> builtins.list[Path]:
        """Fetch one output, or every available one, into ``download_path/<output name>``.

        ``default`` is the job's ``./outputs`` and ``logs`` its ``./logs`` (TensorBoard's folder);
        ``logs`` can be fetched while the job runs too (what it has written so far)."""
        import tarfile  # here: listing jobs does without it

        target = Path(download_path)
        job = self.get(name)
        names = [output_name] if output_name else [o.name for o in job.view.outputs if o.available]
        written = []
        for output in names:
            with self.open_output(name, output) as archive, tarfile.open(fileobj=archive, mode="r|") as tar:
                tar.extractall(target, filter="data")
            written.append(target / output)
        return written

    @contextmanager
    def open_output(self, name: str, output: str, on_bytes: Callable[[int], Any] | None = None) -> Iterator[IO[bytes]]:
        """One output as a streamed, uncompressed tar whose top folder is the output's name;
        ``on_bytes(n)`` is called as each chunk arrives (for progress bars)."""
        with self._rest.stream(api.jobs.OUTPUT, name=name, output=output) as response:
            chunks = response.iter_bytes()
            yield io.BufferedReader(StreamReader(_counted(chunks, on_bytes) if on_bytes else chunks))

    def lineage(self, name: str) -> LineageNode:
        """Upstream of the job: its code snapshot, environment and inputs (and what made those inputs)."""
        return self._rest.call(api.lineage.JOB, name=name)

    def metric_histories(self, name: str) -> dict[str, MetricHistory]:
        """Every value of every metric the job logged to MLflow, with its steps and timestamps (ms)."""
        return self._rest.call(api.jobs.METRICS, name=name).metrics

    def metric_series(
        self, name: str, max_points: int | None = 1000, since_step: int | None = None
    ) -> dict[str, MetricHistory]:
        """The job's metrics for a chart: each thinned by the server to ``max_points`` (keeping each stretch's
        lowest and highest value and the ends), only after ``since_step`` if given."""
        params = {
            key: value for key, value in (("max_points", max_points), ("since_step", since_step)) if value is not None
        }
        return self._rest.call(api.jobs.METRICS, name=name, params=params).metrics

    def follow_metrics(self, name: str, max_points: int = 1000) -> Iterator[dict[str, MetricHistory]]:
        """The series so far, then the new points as the job logs them, until it ends (server-sent events)."""
        from kiln.specs.views import JobMetricsView

        with self._rest.stream(api.jobs.METRIC_STREAM, name=name, params={"max_points": max_points}) as response:
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind == "metrics":
                    yield JobMetricsView.model_validate_json(line.removeprefix("data: ")).metrics

    def code_files(self, name: str) -> builtins.list[JobFileView]:
        """The files of the job's code snapshot."""
        view: JobFilesView = self._rest.call(api.jobs.CODE_FILES, name=name)
        return view.files

    def read_code_file(self, name: str, path: str) -> bytes:
        with self._rest.stream(api.jobs.CODE_FILE, name=name, params={"path": path}) as response:
            return response.read()

    def output_files(self, name: str, output: str) -> builtins.list[JobFileView]:
        """The files of one output of an ended job."""
        view: JobFilesView = self._rest.call(api.jobs.OUTPUT_FILES, name=name, output=output)
        return view.files

    def read_output_file(self, name: str, output: str, path: str) -> bytes:
        with self._rest.stream(api.jobs.OUTPUT_FILE, name=name, output=output, params={"path": path}) as response:
            return response.read()


def _counted(chunks: Iterator[bytes], on_bytes: Callable[[int], Any]) -> Iterator[bytes]:
    for chunk in chunks:
        on_bytes(len(chunk))
        yield chunk


def _stdout_write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


# Turning what the user gave into a REST body ------------------------------------------------
def _refuse_undeclared_overrides(source: YamlSource, overrides: list[str]) -> None:
    """``--set inputs.NAME=…`` (or ``outputs.NAME``) must name one the job declares: a typo is refused, as in YAML."""
    for item in overrides:
        parts = item.partition("=")[0].strip().split(".")
        if len(parts) < 2 or parts[0] not in ("inputs", "outputs"):
            continue
        declared = source.data.get(parts[0])
        names = sorted(declared) if isinstance(declared, dict) else []
        if parts[1] not in names:
            known = ", ".join(names) if names else "none"
            raise InvalidSpec(
                f"--set {item!r}: the job declares no {parts[0][:-1]} '{parts[1]}' ({parts[0]} it declares: {known}); "
                f"fix the name, or declare it under '{parts[0]}:' in {source.label}"
            )


def prepare_submission(rest: RestClient, spec: SpecLike, overrides: list[str], dry_run: bool = False) -> dict[str, Any]:
    """The REST body of a job's submission: the spec checked here (every mistake named with its file's line), its
    local paths uploaded (``dry_run``: only checked to exist and be readable, and left as they are: the server
    reports them as uploads to come)."""
    from kiln.capabilities import load_configured_capabilities

    load_configured_capabilities()  # their job kinds (type: responsible_ai…), as the CLI loads them at its start
    source, base_dir = _source_of(spec)
    return prepare_source(rest, source, base_dir, overrides, dry_run)


def prepare_source(
    rest: RestClient, source: YamlSource, base_dir: Path | None, overrides: list[str], dry_run: bool = False
) -> dict[str, Any]:
    """:func:`prepare_submission` of a job already read (a schedule's inline ``create_job``: its lines are the
    schedule file's), its local paths relative to ``base_dir``."""
    from kiln.sdk.uploads import upload_path

    body, local_paths = check_submission(source, base_dir, overrides)
    if not dry_run:
        for loc, local in local_paths.items():
            _set(body, loc, upload_path(rest, local))
    return body


def check_submission(
    source: YamlSource, base_dir: Path | None, overrides: list[str]
) -> tuple[dict[str, Any], dict[tuple[str, ...], Path]]:
    """The checked body of a submission (``overrides`` applied to ``source``) and the local paths it names (to be
    uploaded, each in place of its field's value); InvalidSpec naming the field and line of the first mistakes."""
    from kiln.sdk.uploads import ensure_readable
    from kiln.specs.job import JobSpecBase, ProcessJobSpec
    from kiln.specs.job_kinds import parse_job_spec
    from kiln.specs.yaml_source import apply_overrides, format_loc

    if overrides and isinstance(source.data, dict):
        _refuse_undeclared_overrides(source, overrides)
        apply_overrides(source.data, overrides)
    job = parse_job_spec(source)
    if isinstance(job, JobSpecBase):
        job = job.with_local_files(base_dir or Path.cwd())
    problems = [f"{source.where(loc)}: {format_loc(loc)}: {message}" for loc, message in _problems(job)]
    if problems:
        raise InvalidSpec("; ".join(problems))
    body = job.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(body.get("environment"), dict):  # an inline environment: its files are sent inline too
        from kiln.sdk.environments import inline_environment_files

        body["environment"] = inline_environment_files(
            body["environment"], base_dir or Path.cwd(), source, ("environment",)
        )
    if body.get("experiment_name") is None and base_dir is not None and source.path is not None:
        body["experiment_name"] = base_dir.resolve().name
    local_paths: dict[tuple[str, ...], Path] = {}
    for loc, value in (job.local_paths() if isinstance(job, ProcessJobSpec) else {}).items():
        if value.startswith("upload:"):
            continue
        local = (base_dir or Path.cwd()) / value
        if not local.exists():
            kind = "folder" if loc == ("code",) else "path"
            raise InvalidSpec(
                f"{source.where(loc)}: {format_loc(loc)}: {kind} '{value}' not found (looked for {local.resolve()})"
            )
        if loc == ("code",) and not local.is_dir():
            raise InvalidSpec(f"{source.where(loc)}: code: '{value}' is a file; code must be a folder")
        ensure_readable(local, f"{source.where(loc)}: {format_loc(loc)}")
        local_paths[loc] = local
    return body, local_paths


def _problems(job: object) -> list[tuple[tuple[str, ...], str]]:
    from kiln.specs.job import JobSpecBase

    return job.problems() if isinstance(job, JobSpecBase) else []


def _source_of(spec: SpecLike) -> tuple[YamlSource, Path | None]:
    from kiln.specs.yaml_source import YamlSource, read_yaml_file

    if isinstance(spec, str | Path):  # a file: read without importing the spec models
        return read_yaml_file(spec), Path(spec).parent
    if isinstance(spec, dict):
        return YamlSource(dict(spec)), None
    from kiln.specs.job import JobSpecBase

    if isinstance(spec, JobSpecBase):
        return YamlSource(spec.model_dump(by_alias=True, exclude_none=True)), None
    source = read_yaml_file(spec)
    return source, Path(spec).parent


def _set(body: dict[str, Any], loc: tuple[str, ...], value: str) -> None:
    target: Any = body
    for part in loc[:-1]:
        target = target[part]
    target[loc[-1]] = value
