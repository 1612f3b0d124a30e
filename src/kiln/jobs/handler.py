"""What differs per kind of job, for the engine: the ``JobHandler`` protocol, and finding a spec's handler.

A kind is one spec class (a subclass of :class:`kiln.specs.job.ProcessJobSpec` whose
``type`` is a ``Literal``) plus one handler class, declared together as a
:class:`kiln.specs.job_kinds.JobKind` and registered with ``register_job_kind``. The engine
does the rest for every kind: it puts ``code`` and the inputs in place, prepares the
environment, runs the command line the handler gives on the job's compute target (as
``distribution`` asks), enforces ``limits.timeout``, keeps the outputs and the log, and
registers model outputs. What the spec itself finds wrong (``spec.problems()``) is refused
at submit, naming the field (the SDK names the YAML line too). One file and one line::

    # my_capability/echo.py
    class EchoJobSpec(ProcessJobSpec):
        type: Literal["echo"] = "echo"
        text: str

    class EchoJobHandler:
        def command_line(self, spec: EchoJobSpec, values: ReferenceValues) -> str:
            return f"echo {shlex.quote(spec.text)}"

        def summary(self, spec: EchoJobSpec) -> str:
            return f"echo {spec.text}"

    # where the capability registers its kinds (before the server's app is made: the REST body lists them)
    register_job_kind(JobKind("echo", spec="my_capability.echo:EchoJobSpec", handler="my_capability.echo:EchoJobHandler"))
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, TypeVar

from kiln.capabilities.registry import capability_of_job_type
from kiln.specs.job import ProcessJobSpec
from kiln.specs.job_kinds import job_kind

SpecT = TypeVar("SpecT", bound=ProcessJobSpec, contravariant=True)
# what ${{inputs.NAME}} and ${{outputs.NAME}} stand for in the job's process: {"inputs": {...}, "outputs": {...}}
ReferenceValues = dict[str, dict[str, str]]


class JobHandler(Protocol[SpecT]):
    """One kind's part of running a job. The class is built with no arguments, once per process."""

    def command_line(self, spec: SpecT, values: ReferenceValues) -> str:
        """The shell command the job's process runs (each rank of a distributed job runs the same one),
        with ``${{inputs.x}}``/``${{outputs.y}}`` replaced by ``values`` (paths and literal values)."""
        ...

    def summary(self, spec: SpecT) -> str:
        """One line that says what the job does, shown in job views (``JobView.command``)."""
        ...


# A handler may also say which of its path inputs its process reads from a manifest of signed URLs where the
# target does not share the server's disk (a Ray cluster): ``url_inputs = ("data",)``; none by default. Its
# ``command_line`` then finds the manifest's path in ``values["manifests"]`` (kiln.jobs.input_manifest).

_handlers: dict[str, JobHandler[Any]] = {}
_lock = threading.Lock()


def handler_of(spec: ProcessJobSpec) -> JobHandler[Any]:
    """The handler of the spec's kind, loaded (and built) on first use."""
    with _lock:
        handler = _handlers.get(spec.type)
        if handler is None:
            capability = capability_of_job_type(spec.type)
            if capability is not None:  # its extra first: MissingExtra names it, instead of an ImportError
                capability.check_installed(needed_by=f"a job of type '{spec.type}'")
            loaded = job_kind(spec.type).load_handler()
            handler = _handlers[spec.type] = loaded() if isinstance(loaded, type) else loaded
        return handler
