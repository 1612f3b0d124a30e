"""Environment rules: register and build versions, and give each job its venv.

Registration (``create``) checks the spec, records the version and builds it in the
background (a cache hit is ready at once); the build log can be followed while it runs.
As the jobs' ``EnvironmentResolver`` the service pins ``environment`` at submit (a
registered version, an inline spec, or nothing: the server's own Python) and builds or
reuses the venv before the job starts. The exact package list (``uv pip freeze``) is kept
with the job, so a rerun builds from those pins instead of the loose spec.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from kiln.clock import utcnow
from kiln.environments.build_spec import BuildSpec, normalize_requirements, with_mlflow
from kiln.environments.builder import BuiltEnvironment, EnvironmentCache
from kiln.environments.curated import AZURE_REGISTRY, find_curated, is_curated_name, unknown_curated_message
from kiln.environments.dockerfile import equivalent_spec
from kiln.environments.interpreters import InterpreterFinder, server_python_version
from kiln.environments.overlay import JOB_OVERLAY_FOLDER, OverlaySpares, make_server_overlay
from kiln.environments.pip_config import IndexSettings, read_index_settings
from kiln.environments.resolver import PreparedEnvironment
from kiln.errors import AlreadyExists, InvalidSpec, KilnError
from kiln.logs import follow_log, read_from
from kiln.specs.environment import (
    EnvironmentSpec,
    EnvironmentView,
    image_note,
    parse_environment_reference,
    parse_registry_reference,
)
from kiln.specs.pins import (
    BuiltEnvironmentPin,
    CuratedEnvironmentPin,
    EnvironmentPin,
    InlineEnvironmentPin,
    RegisteredEnvironmentPin,
    ServerInterpreterPin,
)
from kiln.store.environments import EnvironmentRepository
from kiln.store.tables import EnvironmentRow

log = logging.getLogger(__name__)

BUILDING, READY, FAILED = "building", "ready", "failed"


class EnvironmentService:
    def __init__(
        self,
        repository: EnvironmentRepository,
        cache: EnvironmentCache,
        interpreters: InterpreterFinder,
        index_settings: Callable[[], IndexSettings] = read_index_settings,
        overlays: OverlaySpares | None = None,
    ) -> None:
        self.environments = repository
        self.overlays = overlays  # job overlays made ahead of need (None: each made when its job starts)
        self.cache = cache
        self._interpreters = interpreters
        self._read_index = index_settings
        self._index: IndexSettings | None = None
        self._index_lock = threading.Lock()

    # From a spec to what is built --------------------------------------------------------
    def index_settings(self) -> IndexSettings:
        """The server's pip configuration, read once (it is part of every hash)."""
        with self._index_lock:
            if self._index is None:
                self._index = self._read_index()
            return self._index

    def build_spec(self, spec: EnvironmentSpec, field: str = "") -> tuple[BuildSpec, str | None]:
        """The normalized build and the MLflow requirement added to it (None if the spec had one)."""
        build, added, _notes = self._plan(spec, field)
        return build, added

    def _plan(self, spec: EnvironmentSpec, field: str = "") -> tuple[BuildSpec, str | None, list[str]]:
        """The build, the MLflow requirement added, and what kiln tells the user it does differently from Azure."""
        prefix = f"{field}." if field else ""
        notes: list[str] = []
        source = f"{prefix}conda_file"
        if spec.build is not None:
            spec.check_inline(field)
            source = f"{prefix}build"
            spec, notes = equivalent_spec(spec.build, source, self._has_python)
            spec = spec.model_copy(update={"image": None})
        python_request = spec.python_version(source) or server_python_version()
        lines = normalize_requirements(spec.requirement_lines(field), f"{prefix}requirements")
        lines, added = with_mlflow(lines)
        build = self._build_spec(python_request, lines, source)
        if spec.image:
            notes.append(image_note(spec, build.python, added))
        return build, added, notes

    def _has_python(self, version: str) -> bool:
        try:
            self._interpreters.find(version)
        except InvalidSpec:
            return False
        return True

    def _build_spec(self, python_request: str, lines: list[str], field: str) -> BuildSpec:
        try:
            interpreter = self._interpreters.find(python_request)
        except InvalidSpec as exc:
            raise InvalidSpec(f"{field}: {exc.message}") from None
        return BuildSpec(interpreter.version, interpreter.executable, tuple(lines), self.index_settings())

    # Registration ------------------------------------------------------------------------
    def create(self, spec: EnvironmentSpec, created_by: str | None = None) -> tuple[EnvironmentView, bool]:
        """Register (and build) a version; True if it is new. Same spec again: a no-op."""
        if not spec.name:
            raise InvalidSpec("name: required to register an environment (or give --name)")
        build, added = self.build_spec(spec)
        name = spec.name
        existing = self.environments.versions(name)
        version = spec.version
        if version is None:
            if existing and existing[0].hash == build.hash:
                version = existing[0].version
            else:
                version = _next_version([row.version for row in existing])
        same = next((row for row in existing if row.version == version), None)
        if same is not None:
            if same.hash != build.hash:
                raise AlreadyExists(
                    f"environment {name}:{version} already exists with a different spec (hash {same.hash[:12]}, "
                    f"this spec {build.hash[:12]}); versions are immutable: give a new version"
                )
            if same.status != FAILED:
                return self.view(same), False
            self.environments.set_fields(same.id, status=BUILDING, error=None, spec=_stored(spec, version))
            self._start_build(same.id)
            return self.view(self.environments.reload(same.id)), False
        row = EnvironmentRow(
            id=uuid.uuid4().hex, name=name, version=version, description=spec.description,
            tags={str(k): v for k, v in spec.tags.items()}, image=spec.image, spec=_stored(spec, version),
            hash=build.hash, python=build.python, requirements=list(build.requirements), status=BUILDING,
            lock=[], created_at=utcnow(), created_by=created_by,
        )  # fmt: skip
        found = self.cache.lookup(build.hash)
        if found:  # the same venv exists already: ready at once
            row.status, row.lock, row.build_log, row.built_at = READY, found.lock, found.build_log, utcnow()
        self.environments.add(row)
        if not found:
            if added:
                log.info("environment %s:%s: adding %s so jobs can log to MLflow", name, version, added)
            self._start_build(row.id)
        return self.view(self.environments.reload(row.id)), True

    def _start_build(self, row_id: str) -> None:
        row = self.environments.reload(row_id)
        log_path = self.cache.new_log(row.hash)
        self.environments.set_fields(row_id, build_log=str(log_path))
        threading.Thread(
            target=self._build_registered, args=(row_id, log_path), name=f"env-build-{row.name}", daemon=True
        ).start()

    def _build_registered(self, row_id: str, log_path: Path) -> None:
        row = self.environments.reload(row_id)
        try:
            spec = EnvironmentSpec.model_validate(row.spec)
            build, added = self.build_spec(spec)
            if added:
                _append(
                    log_path, f"{added} added: jobs log to MLflow, and the spec lists neither mlflow nor mlflow-skinny"
                )
            built = self.cache.ensure(build, lambda _line: None, log_path)
        except Exception as exc:
            message = exc.message if isinstance(exc, KilnError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, KilnError):
                log.exception("environment %s:%s failed to build", row.name, row.version)
            _append(log_path, message)
            self.environments.set_fields(row_id, status=FAILED, error=message)
            return
        self.environments.set_fields(
            row_id, status=READY, lock=built.lock, build_log=built.build_log, built_at=utcnow(), hash=built.hash
        )

    def resume(self) -> None:
        """After a restart: builds that were cut off start again."""
        for row in self.environments.with_status(BUILDING):
            self._start_build(row.id)

    # Reading -----------------------------------------------------------------------------
    def view(self, row: EnvironmentRow) -> EnvironmentView:
        return EnvironmentView(
            name=row.name, version=row.version, description=row.description, tags=dict(row.tags or {}),
            image=row.image, status=row.status, hash=row.hash, python=row.python,
            requirements=list(row.requirements or []), packages=list(row.lock or []), build_log=row.build_log,
            error=row.error, notes=self._notes(row), created_at=row.created_at, built_at=row.built_at,
            spec=dict(row.spec), created_by=row.created_by,
        )  # fmt: skip

    def _notes(self, row: EnvironmentRow) -> list[str]:
        try:
            return self._plan(EnvironmentSpec.model_validate(row.spec))[2]
        except (KilnError, ValueError):
            return []  # a spec that no longer plans (its python is gone): its error says why

    def get(self, name: str, version: str) -> EnvironmentView:
        return self.view(self.environments.get(name, version))

    def list(self, name: str | None = None) -> list[EnvironmentView]:
        return [self.view(row) for row in self.environments.all(name)]

    def follow_log(self, name: str, version: str, follow: bool, poll: float = 0.1) -> Iterator[bytes]:
        """The build log from the start; with ``follow``, new lines until the build ends (NotFound at once)."""
        row_id = self.environments.get(name, version).id

        def read(offset: int) -> tuple[bytes, bool]:
            row = self.environments.reload(row_id)
            done = row.status != BUILDING
            return (read_from(Path(row.build_log), offset) if row.build_log else b""), done

        return follow_log(read, follow, poll)

    # EnvironmentResolver: what jobs and replicas need ------------------------------------------
    def pin_environment(self, environment: str | EnvironmentSpec | dict[str, Any] | None) -> EnvironmentPin:
        """Check an ``environment`` field (a reference or an inline spec) and pin it exactly."""
        if environment is None:
            return ServerInterpreterPin(python=sys.executable)
        if isinstance(environment, str):
            return self._pin_reference(environment)
        if isinstance(environment, dict):
            environment = EnvironmentSpec.model_validate(environment)
        build, added, notes = self._plan(environment, "environment")
        return InlineEnvironmentPin(
            hash=build.hash,
            python=build.python,
            requirements=list(build.requirements),
            image=environment.image,
            added=added,
            notes=notes or None,
        )

    def _pin_reference(self, reference: str) -> RegisteredEnvironmentPin | CuratedEnvironmentPin:
        """A registered version; else, for Azure's names (azureml://registries/…, AzureML-…), a curated one."""
        registry = parse_registry_reference(reference)
        if registry is not None:
            registry_name, name, version = registry
            if registry_name != AZURE_REGISTRY:
                raise InvalidSpec(
                    f"environment: '{reference}': kiln knows only Azure's '{AZURE_REGISTRY}' registry (its curated "
                    f"environments); register the environment in this workspace (kiln environment create --name "
                    f"{name} -f env.yml) and write azureml:{name}:VERSION"
                )
        else:
            name, version = parse_environment_reference(reference)
        row = self.environments.find(name, version)
        if row is None and (registry is not None or is_curated_name(name)):
            return self._pin_curated(reference, name, version)
        if row is None:
            raise InvalidSpec(
                f"environment: '{reference}' is not registered in this workspace (kiln environment create -f "
                "env.yml registers it; leave 'environment' out to run on the workspace server's own Python)"
            )
        if row.status == FAILED:
            raise InvalidSpec(f"environment: {row.name}:{row.version} failed to build: {row.error}")
        return RegisteredEnvironmentPin(
            name=row.name, version=row.version, hash=row.hash, python=row.python,
            requirements=list(row.requirements), image=row.image, notes=self._notes(row) or None,
        )  # fmt: skip

    def _pin_curated(self, reference: str, name: str, version: str) -> CuratedEnvironmentPin:
        curated = find_curated(name)
        if curated is None:
            raise InvalidSpec(unknown_curated_message(reference, name, version))
        lines, added = with_mlflow(normalize_requirements(list(curated.requirements), "environment"))
        build = self._build_spec(server_python_version(), lines, "environment")
        note = (
            f"{curated.curated_name}: Azure's curated environment, built by kiln from its own package list "
            f"({curated.description}); Azure's image and version numbers are not used"
        )
        return CuratedEnvironmentPin(
            hash=build.hash, python=build.python, requirements=list(build.requirements), name=curated.name,
            version=version, reference=reference, added=added, notes=[note],
        )  # fmt: skip

    def prepare(self, pin: EnvironmentPin, log: Path) -> PreparedEnvironment:
        if isinstance(pin, ServerInterpreterPin):
            # the server's packages behind a venv of the job's own (in its folder, next to its log): a
            # ``pip install`` in the job lands there, never in kiln's installation
            target = log.parent / JOB_OVERLAY_FOLDER
            if self.overlays is not None:
                return PreparedEnvironment(self.overlays.make(target), pin)
            return PreparedEnvironment(make_server_overlay(target, self.cache.uv), pin)

        def say(line: str) -> None:
            _append(log, line)

        for note in pin.notes or []:
            say(f"note: {note}")
        if pin.lock:
            built = self._prepare_locked(pin, say)
        else:
            say(f"preparing environment {'inline environment' if isinstance(pin, InlineEnvironmentPin) else pin.label}")
            if isinstance(pin, InlineEnvironmentPin | CuratedEnvironmentPin) and pin.added:
                say(f"{pin.added} added: jobs log to MLflow, and the spec lists neither mlflow nor mlflow-skinny")
            build = self._build_spec(pin.python, list(pin.requirements), "environment")
            built = self.cache.ensure(build, say)
        prepared = pin.model_copy(
            update={
                "hash": built.hash, "python": built.python, "lock": built.lock,
                "build_log": built.build_log, "venv": built.venv,
            }
        )  # fmt: skip
        return PreparedEnvironment(built.bin_dir, prepared)

    def _prepare_locked(self, pin: BuiltEnvironmentPin, say: Callable[[str], None]) -> BuiltEnvironment:
        """A rerun: the recorded venv if it is still there, else a build from the recorded pins."""
        lock = [str(line) for line in pin.lock or []]
        say(f"preparing the recorded environment ({len(lock)} exact pins)")
        found = self.cache.lookup(pin.hash)
        if found and found.lock == lock:
            say(f"environment {found.hash[:12]}: the recorded venv is still in the cache; reused")
            return found
        python = pin.python
        try:
            build = self._build_spec(python, lock, "environment")
        except InvalidSpec:
            minor = ".".join(python.split(".")[:2])
            say(f"python {python} is no longer on this machine; using python {minor}")
            build = self._build_spec(minor, lock, "environment")
        return self.cache.ensure(build, say)


def _next_version(versions: list[str]) -> str:
    numbers = [int(v) for v in versions if re.fullmatch(r"\d+", v)]
    return str(max(numbers, default=0) + 1)


def _stored(spec: EnvironmentSpec, version: str) -> dict[str, Any]:
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.pop("$schema", None)
    data["version"] = version
    return data


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line.rstrip("\n") + "\n")


def open_environment_service(
    home: Path, sessions: sessionmaker[Session], overlay_spares: Path | None = None
) -> EnvironmentService:
    """The service for a workspace: venvs under ``<home>/envs``, built with the uv that kiln installs; with
    ``overlay_spares`` (a folder on the jobs' file system), job overlays made ahead of need there."""
    from uv import find_uv_bin

    uv = find_uv_bin()
    environ = dict(os.environ)
    overlays = None
    if overlay_spares is not None:
        overlays = OverlaySpares(overlay_spares, uv)
        overlays.fill_soon()
    return EnvironmentService(
        EnvironmentRepository(sessions), EnvironmentCache(home / "envs", uv, environ), InterpreterFinder(uv, environ),
        overlays=overlays,
    )  # fmt: skip
