"""A job's kept output as another job's input: ``azureml://jobs/JOB/outputs/NAME[/paths/PATH]`` (``kiln://`` too),
how a pipeline passes one step's output to the next. Pinned by its content hash; a reused step's outputs are those
of the job it reused; the outputs of a job that read private data are refused (they may hold its rows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiln.artifacts.references import join_key, parse_job_output
from kiln.artifacts.store import ArtifactStore, path_hash
from kiln.errors import InvalidSpec
from kiln.jobs.folders import output_key
from kiln.jobs.inputs import expect_pin
from kiln.services.jobs import private_inputs
from kiln.specs.job import JOB_OUTPUT_PREFIXES, JobInput
from kiln.specs.job_status import JobStatus
from kiln.specs.pins import InputPin, UploadPin, input_pins
from kiln.store.jobs import JobRepository

REUSED_FROM_TAG = "kiln.pipeline.reused_from"  # a reused step's tag: the job whose outputs it has


@dataclass
class JobOutputInputs:
    jobs: JobRepository
    store: ArtifactStore

    def accepts(self, item: JobInput) -> bool:
        return bool(item.is_path() and item.path and item.path.startswith(JOB_OUTPUT_PREFIXES))

    def pin(self, name: str, item: JobInput) -> UploadPin:
        field = f"inputs.{name}.path"
        reference = parse_job_output(item.path or "", field)
        if reference is None:  # accepts() saw the prefix
            raise InvalidSpec(f"{field}: {item.path!r} is not a job output")
        row = self.jobs.find(reference.job)
        origin = row.spec.get("tags", {}).get(REUSED_FROM_TAG) if row is not None else None
        if origin:
            row = self.jobs.find(str(origin))
        if row is None:
            raise InvalidSpec(f"{field}: there is no job '{reference.job}' (kiln job list shows the jobs there are)")
        if row.status != JobStatus.COMPLETED.value:
            raise InvalidSpec(f"{field}: job '{row.name}' has not completed ({row.status}); its outputs are not kept")
        if private_inputs(input_pins(row.pinned_inputs)):
            raise InvalidSpec(
                f"{field}: job '{row.name}' read private data; its outputs may hold its rows and cannot be an input"
            )
        key = join_key(output_key(row.id, reference.output), reference.path, field)
        if not self.store.exists(key):
            raise InvalidSpec(f"{field}: job '{row.name}' kept no output '{reference.output}' (or no such path in it)")
        with self.store.local_view(key) as local:
            digest = path_hash(local)
        return UploadPin(key=key, content_hash=digest)

    def materialize(self, name: str, item: JobInput, pinned: InputPin, target: Path) -> Path:
        key = expect_pin(pinned, UploadPin, name).key
        if item.type == "uri_file":
            target = target / key.rsplit("/", 1)[-1]
        self.store.get(key, target)
        return target

    def stored_key(self, name: str, pinned: InputPin) -> str | None:
        return expect_pin(pinned, UploadPin, name).key
