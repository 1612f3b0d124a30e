"""Model registry rules: register versions from uploads, runs or job outputs; aliases,
tags, archive; and job outputs of model type that register themselves on completion."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.artifacts.references import JOB_OUTPUT_FORMS, UPLOAD_PREFIX, join_key, parse_job_output, parse_run
from kiln.artifacts.store import MLFLOW_ARTIFACTS_KEY, ArtifactStore, path_hash
from kiln.errors import Conflict, InvalidSpec, NotFound
from kiln.jobs.folders import output_key
from kiln.services.model_compare import compare_versions
from kiln.services.model_signature import Signature, read_signature
from kiln.services.uploads import UploadService
from kiln.specs.bounded import MAX_TAG_VALUE_LENGTH
from kiln.specs.job import JobOutput
from kiln.specs.model import ModelSpec, ModelVersionView, ModelView
from kiln.specs.model_compare import CompareRequest, ModelComparison
from kiln.specs.references import AssetReference
from kiln.specs.views import JobStatus
from kiln.specs.yaml_source import load_yaml
from kiln.store.jobs import JobRepository
from kiln.store.tables import JobRow
from kiln.tracking.mlflow_secret import send_with_mlflow_client
from kiln.tracking.registry import ARCHIVED_TAG, CREATED_BY_TAG, TYPE_TAG, ModelRegistry
from kiln.tracking.run_store import DEFAULT_ARTIFACT_ROOT
from kiln.tracking.runs import RunTracker

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

    from kiln.services.model_scoring import ModelScoring
    from kiln.specs.roles import Role

REGISTRATION_EXPERIMENT = "kiln-model-registrations"
REGISTERED_FILES = "registered"  # artifact folder of the run that holds a registered model's files

JOB_TAG = "kiln.job"
CONTENT_TAG = "kiln.content_hash"
# the name of the folder it was registered from (Azure keeps it: $AZUREML_MODEL_DIR/<folder>/…); unset for a file
SOURCE_FOLDER_TAG = "kiln.source_folder"
VERSION_TAGS_KEY = "kiln_version_tags"  # in an MLmodel's metadata: tags its registered version gets
# a version's privacy guarantee (kiln privacy): set by kiln from the job's charges in the ledger, never by hand
PRIVACY_TAG_PREFIX = "privacy."
# kiln privacy's: the privacy tags of a model a job registers, from the job and the tags its MLmodel asks for
PrivacyTags = Callable[[JobRow, dict[str, str]], dict[str, str]]


class ModelService:
    def __init__(
        self,
        registry: ModelRegistry,
        tracker: RunTracker,
        store: ArtifactStore,
        uploads: UploadService,
        jobs: JobRepository,
    ) -> None:
        self._registry = registry
        self._tracker = tracker
        self._store = store
        self._uploads = uploads
        self._jobs = jobs
        self.scoring: ModelScoring | None = None  # set by the server's wiring: scored comparisons (compare --data)
        self.privacy_tags: PrivacyTags | None = None  # None: a job's model gets no privacy.* tags

    # Registration ----------------------------------------------------------------------------
    def create(self, spec: ModelSpec, created_by: str | None = None) -> ModelVersionView:
        _check_privacy_tags(spec.tags)
        return self._create(spec, created_by)

    def _create(self, spec: ModelSpec, created_by: str | None) -> ModelVersionView:
        self._check_requested_version(spec.name, spec.version)
        tags = {str(k): str(v) for k, v in spec.tags.items()} | {TYPE_TAG: spec.type}
        if created_by:
            tags[CREATED_BY_TAG] = created_by
        # every kind of path goes through the one resolver (kiln.artifacts.references): nothing outside its root
        runs = parse_run(spec.path, "path")
        output = parse_job_output(spec.path, "path")
        if runs:  # MLflow resolves run artifacts and MLflow 3 logged models itself
            job = self._jobs.get(runs.job)
            tags[JOB_TAG] = job.name
            tags[SOURCE_FOLDER_TAG] = runs.path.rstrip("/").rsplit("/", 1)[-1]
            try:
                version = self._registry.register(spec.name, f"runs:/{job.id}/{runs.path}", tags, spec.description)
            except NotFound:
                raise InvalidSpec(
                    f"path: job '{job.name}' has no model at '{runs.path}': no MLmodel file in its run's artifacts "
                    "there, and no model logged in its run under that name (a model logged outside any run, with "
                    "no source_run_id, belongs to no job: log it while the job's run is active, as kiln's jobs do "
                    "by default, or register its folder from the job's outputs)"
                ) from None
            return self.version_view(version)
        if output:
            job = self._jobs.get(output.job)
            key = join_key(output_key(job.id, output.output), output.path, "path")
            if not self._store.exists(key):
                what = (
                    f"'{output.path}' in its output '{output.output}'" if output.path else f"output '{output.output}'"
                )
                raise InvalidSpec(f"path: job '{job.name}' has no stored {what} (has it completed?)")
            run_id, tags[JOB_TAG] = job.id, job.name
            if self._store.is_dir(key):
                tags[SOURCE_FOLDER_TAG] = output.path.rstrip("/").rsplit("/", 1)[-1] if output.path else output.output
        elif spec.path.startswith(UPLOAD_PREFIX):
            key, _ = self._uploads.resolve(spec.path, "path")
            run_id = None
            folder = upload_folder_name(spec.path)
            if folder and self._store.is_dir(key):
                tags[SOURCE_FOLDER_TAG] = folder
        else:
            raise InvalidSpec(
                f"path: {spec.path!r} is not a model source; give a local folder (the CLI/SDK upload it), "
                f"runs:/JOB/PATH, or {JOB_OUTPUT_FORMS}"
            )
        return self.version_view(self._register_files(key, spec, tags, run_id))

    def ensure(self, spec: ModelSpec, created_by: str | None = None) -> ModelVersionView:
        """An inline model of a deployment, as Azure treats it: the version ``spec.version`` if it exists with
        the same files (Conflict if its files differ), else the latest version if it has the same files, else
        a new version (``spec.version`` must then be the next one)."""
        with self._store.local_view(self._uploads.resolve(spec.path, "model.path")[0]) as local:
            content = path_hash(local)
        try:
            versions = self._registry.versions(spec.name)
        except NotFound:
            versions = []
        if spec.version is not None:
            same = [v for v in versions if str(v.version) == spec.version]
            if same and same[0].tags.get(CONTENT_TAG) != content:
                raise Conflict(
                    f"model.version: model '{spec.name}' version {spec.version} exists with other files; versions "
                    "are immutable: leave model.version out to register the files as a new version, or name "
                    "another model"
                )
            if same:
                return self.version_view(same[0])
        elif versions and versions[-1].tags.get(CONTENT_TAG) == content:
            return self.version_view(versions[-1])
        return self.create(spec, created_by)

    def _register_files(self, key: str, spec: ModelSpec, tags: dict[str, str], run_id: str | None) -> ModelVersion:
        """Log stored files as artifacts of the producing job's run (or of a registration run
        for an upload) and register them; MLflow only accepts sources inside a run."""
        with self._store.local_view(key) as local:
            _check_model_files(local, spec)
            tags[CONTENT_TAG] = path_hash(local)
            if run_id is None:
                run_id = self._tracker.create_run(
                    self._tracker.experiment_id(REGISTRATION_EXPERIMENT), f"register {spec.name}", {"kiln.upload": key}
                )
                self._tracker.mark_ended(run_id, JobStatus.COMPLETED)
            artifact_path = f"{REGISTERED_FILES}/{spec.name}"
            self._tracker.log_artifacts(run_id, local, artifact_path)
        return self._registry.register_run_files(spec.name, run_id, artifact_path, tags, spec.description)

    def _check_requested_version(self, name: str, requested: str | None) -> None:
        if requested is None:
            return
        try:
            existing = [v.version for v in self._registry.versions(name)]
        except NotFound:
            existing = []
        expected = str(len(existing) + 1) if not existing else str(max(int(v) for v in existing) + 1)
        if requested in existing:
            raise Conflict(
                f"model '{name}' already has version {requested}; versions are immutable, leave 'version' out to add {expected}"
            )
        if requested != expected:
            raise InvalidSpec(
                f"version: the registry numbers versions in order; the next version of '{name}' is {expected}, not {requested}"
            )

    def register_job_outputs(self, job: JobRow, outputs: Mapping[str, JobOutput | None]) -> list[ModelVersionView]:
        """After a job completes: each model output (of its spec's ``outputs``) that names a model becomes a new version."""
        registered = []
        for output_name, output in outputs.items():
            if output and output.is_model() and output.name:
                asked = self._version_tags(output_key(job.id, output_name)) if output.type == "mlflow_model" else {}
                tags = {k: v for k, v in asked.items() if not k.startswith(PRIVACY_TAG_PREFIX)}
                if self.privacy_tags is not None:
                    tags |= self.privacy_tags(job, asked)
                spec = ModelSpec(
                    name=output.name, version=output.version, type=output.type,
                    path=f"kiln://jobs/{job.id}/outputs/{output_name}", description=output.description, tags=tags,
                )  # fmt: skip
                registered.append(self._create(spec, created_by=job.created_by))
        return registered

    def _version_tags(self, key: str) -> dict[str, str]:
        """The tags an MLflow model output asks for its version: ``metadata.kiln_version_tags`` in its MLmodel
        (a conversion job's opset, converters and parity report). Names starting with ``kiln.`` stay kiln's."""
        if not self._store.exists(join_key(key, "MLmodel", "path")):
            return {}
        with self._store.local_view(join_key(key, "MLmodel", "path")) as local:
            try:
                metadata = (load_yaml(local.read_text(), "MLmodel")[1].get("metadata") or {}).get(
                    VERSION_TAGS_KEY
                ) or {}
            except Exception:  # an MLmodel kiln cannot read asks for nothing; registration checks it on its own
                return {}
        if not isinstance(metadata, dict):
            return {}
        return {str(k): str(v)[:MAX_TAG_VALUE_LENGTH] for k, v in metadata.items() if not str(k).startswith("kiln.")}

    # Reading ---------------------------------------------------------------------------------
    def get_version(self, name: str, version: str) -> ModelVersionView:
        """One version: ``version`` is a number, ``latest`` or an alias."""
        is_number = version.isascii() and version.isdigit()  # '٣' is a digit to Python, not to MLflow
        reference = AssetReference(name, version) if is_number else AssetReference(name, label=version)
        return self.version_view(self.resolve(reference))

    def resolve(self, reference: AssetReference) -> ModelVersion:
        """The exact version behind ``NAME:VERSION``, ``NAME@latest`` or ``NAME@ALIAS``."""
        if reference.version:
            return self._registry.version(reference.name, reference.version)
        if reference.label == "latest":
            live = [v for v in self._registry.versions(reference.name) if v.tags.get(ARCHIVED_TAG) != "true"]
            if not live:
                raise NotFound(f"model '{reference.name}' has no version that is not archived")
            return live[-1]
        return self._registry.by_alias(reference.name, reference.label or "latest")

    def version_view(self, version: ModelVersion) -> ModelVersionView:
        tags = dict(version.tags)
        return ModelVersionView(
            name=version.name, version=str(version.version), type=tags.get(TYPE_TAG, "mlflow_model"),
            description=version.description or None, tags={k: v for k, v in tags.items() if not k.startswith("kiln.")},
            aliases=list(version.aliases), source=version.source, job=tags.get(JOB_TAG) or self._job_of(version),
            created_at=datetime.fromtimestamp(version.creation_timestamp / 1000, UTC),
            archived=tags.get(ARCHIVED_TAG) == "true", uri=f"models:/{version.name}/{version.version}",
            created_by=tags.get(CREATED_BY_TAG),
        )  # fmt: skip

    def _job_of(self, version: ModelVersion) -> str | None:
        if version.run_id:
            job = self._jobs.find(version.run_id)
            return job.name if job else None
        return None

    def get(self, name: str, include_archived: bool = True) -> ModelView:
        return self._model_view(self._registry.model(name), self._registry.versions(name), include_archived)

    def list(self, include_archived: bool = False) -> list[ModelView]:
        """Every model with its versions: two listings of MLflow's registry, however many models."""
        by_name: dict[str, list[ModelVersion]] = {}
        for version in self._registry.all_versions():
            by_name.setdefault(version.name, []).append(version)
        views = [
            self._model_view(model, sorted(by_name.get(model.name, []), key=lambda v: int(v.version)), include_archived)
            for model in self._registry.models()
        ]
        return [view for view in views if include_archived or view.latest_version is not None]

    def _model_view(self, model: RegisteredModel, found: list[ModelVersion], include_archived: bool) -> ModelView:
        aliases = {str(alias): str(number) for alias, number in model.aliases.items()}
        # MLflow's version searches leave each version's aliases out: they come from the model's
        versions = [
            self.version_view(v).model_copy(
                update={"aliases": sorted(a for a, n in aliases.items() if n == str(v.version))}
            )
            for v in found
        ]
        live = [v for v in versions if not v.archived]
        return ModelView(
            name=model.name, description=model.description or None, aliases=aliases,
            latest_version=live[-1].version if live else None,
            versions=[v for v in versions if include_archived or not v.archived],
        )  # fmt: skip

    # Changes ---------------------------------------------------------------------------------
    def set_archived(self, name: str, version: str, archived: bool) -> ModelVersionView:
        self._registry.version(name, version)
        if archived:
            self._registry.set_tags(name, version, {ARCHIVED_TAG: "true"})
        else:
            self._registry.delete_tag(name, version, ARCHIVED_TAG)
        return self.version_view(self._registry.version(name, version))

    def set_alias(self, name: str, alias: str, version: str) -> ModelVersionView:
        if alias == "latest" or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", alias):
            raise InvalidSpec(
                f"alias {alias!r}: use letters, digits, '_' and '-', starting with a letter ('latest' is reserved)"
            )
        self._registry.version(name, version)
        self._registry.set_alias(name, alias, version)
        return self.version_view(self._registry.version(name, version))

    def delete_alias(self, name: str, alias: str) -> ModelView:
        self._registry.by_alias(name, alias)
        self._registry.delete_alias(name, alias)
        return self.get(name)

    def update(self, name: str, version: str | None, description: str | None, tags: dict[str, str]) -> ModelView:
        _check_reserved_tags(tags)
        if version is None:
            self._registry.model(name)
            if description is not None:
                self._registry.describe_model(name, description)
            self._registry.set_model_tags(name, tags)
        else:
            self._registry.version(name, version)
            if description is not None:
                self._registry.describe_version(name, version, description)
            self._registry.set_tags(name, version, tags)
        return self.get(name)

    def compare(self, name: str, request: CompareRequest, role: Role | None = None) -> ModelComparison:
        """The metric gate of ``kiln model compare``: ``kiln.services.model_compare`` (``role``: the caller's, for a
        scored comparison's data, whose private versions owners alone read)."""
        return compare_versions(self, self._tracker, name, request, self.scoring, role)

    def signature(self, name: str, version: str) -> Signature | None:
        """The version's MLflow signature (its MLmodel file alone is read); None when it has none."""
        self._registry.version(name, version)
        return read_signature(name, version)

    def download(self, name: str, version: str) -> Iterator[bytes]:
        """The version's files as an uncompressed tar whose top folder is the model's name; an unknown
        version raises NotFound here, before anything is streamed."""
        self._registry.version(name, version)
        return self._files_tar(name, version)

    def stored_key(self, name: str, version: str) -> str | None:
        """The store key of a version's files where MLflow keeps them in kiln's store (``mlflow-artifacts:/…``, as
        every version kiln registers); None for a version whose files are elsewhere."""
        source = self._registry.version(name, version).source or ""
        if not source.startswith(DEFAULT_ARTIFACT_ROOT):
            return None
        key = f"{MLFLOW_ARTIFACTS_KEY}/{source[len(DEFAULT_ARTIFACT_ROOT) :].strip('/')}"
        return key if self._store.is_dir(key) else None

    def _files_tar(self, name: str, version: str) -> Iterator[bytes]:
        send_with_mlflow_client()  # MLflow imported once, under its lock; the fluent API's calls carry the secret
        import mlflow

        scratch = Path(tempfile.mkdtemp(prefix="kiln-model-"))
        try:
            local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(scratch)))
            yield from ArtifactStore(str(local.parent)).iter_tar(local.name, name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _check_reserved_tags(tags: Mapping[str, object]) -> None:
    if any(key.startswith("kiln.") for key in tags):
        raise InvalidSpec("tags: names starting with 'kiln.' are kept for kiln's own records")
    _check_privacy_tags(tags)


def _check_privacy_tags(tags: Mapping[str, object]) -> None:
    if any(key.startswith(PRIVACY_TAG_PREFIX) for key in tags):
        raise InvalidSpec(
            f"tags: names starting with '{PRIVACY_TAG_PREFIX}' are a model's privacy guarantee, which kiln sets from "
            "the privacy ledger when a job that read private data registers its model (docs/privacy.md)"
        )


def upload_folder_name(reference: str) -> str | None:
    """The name a client gave the uploaded path (``upload:<hash>/NAME``: the folder or file it sent)."""
    _, _, inside = reference.removeprefix("upload:").partition("/")
    return inside.rstrip("/").rsplit("/", 1)[-1] or None


def _check_model_files(local: Path, spec: ModelSpec) -> None:
    if spec.type == "mlflow_model" and not (local.is_dir() and (local / "MLmodel").is_file()):
        found = sorted(p.name for p in local.iterdir())[:8] if local.is_dir() else [local.name]
        raise InvalidSpec(
            f"path: a model of type mlflow_model needs an MLmodel file at its top (found: {', '.join(found) or 'nothing'}); "
            "save it with mlflow.<flavor>.save_model, or use type: custom_model"
        )
