"""``Client().schedules``: create, list, show, disable, enable and delete schedules, over REST.

``create`` reads the schedule file, checks it (each mistake named with its line), and sends the job each run
submits: a job file named by ``create_job`` (relative to the schedule's file) is read and its code uploaded as
``jobs.create`` does (``kiln.sdk.jobs.prepare_submission``); an inline job likewise, its folders relative to the
schedule's file."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidSpec
from kiln.schedules import api

if TYPE_CHECKING:
    from kiln.schedules.spec import ScheduleSpec
    from kiln.sdk.rest import RestClient
    from kiln.specs.yaml_source import YamlSource


class ScheduleOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(self, spec: str | Path | dict[str, Any] | ScheduleSpec) -> api.ScheduleView:
        """Create a schedule from its YAML file, a dict or a ``ScheduleSpec``."""
        return self._rest.call(api.CREATE, json=schedule_body(self._rest, spec))

    def list(self) -> builtins.list[api.ScheduleView]:
        return self._rest.call(api.LIST)

    def get(self, name: str) -> api.ScheduleView:
        """The schedule with its latest runs (each run's job, or why none was started)."""
        return self._rest.call(api.SHOW, name=name)

    def disable(self, name: str) -> api.ScheduleView:
        return self._rest.call(api.DISABLE, name=name)

    def enable(self, name: str) -> api.ScheduleView:
        return self._rest.call(api.ENABLE, name=name)

    def delete(self, name: str) -> None:
        self._rest.call(api.DELETE, name=name)


def schedule_body(rest: RestClient, spec: str | Path | dict[str, Any] | ScheduleSpec) -> dict[str, Any]:
    """The REST body of ``schedules.create``: the schedule checked, its job read and its code uploaded."""
    from kiln.capabilities import load_configured_capabilities
    from kiln.clock import utcnow
    from kiln.schedules.spec import ScheduleSpec
    from kiln.schedules.timetable import Timetable
    from kiln.specs.yaml_source import YamlSource, read_yaml_file, validate_model

    load_configured_capabilities()  # the job kinds a create_job may be
    if isinstance(spec, ScheduleSpec):
        source, base_dir = YamlSource(spec.model_dump(mode="json", by_alias=True, exclude_none=True)), None
    elif isinstance(spec, dict):
        source, base_dir = YamlSource(dict(spec)), None
    else:
        source, base_dir = read_yaml_file(spec), Path(spec).parent
    schedule = validate_model(ScheduleSpec, source)
    try:
        Timetable.of(schedule.trigger, utcnow())  # the server checks it too; here the line is known
    except InvalidSpec as exc:
        field = tuple(exc.message.partition(":")[0].split("."))  # the timetable's errors start with trigger.FIELD
        raise InvalidSpec(f"{source.where(field)}: {exc.message}") from None
    body = schedule.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["create_job"] = _job_body(rest, schedule.create_job, source, base_dir)
    return body


def _job_body(rest: RestClient, job: str | dict[str, Any], source: YamlSource, base_dir: Path | None) -> dict[str, Any]:
    from kiln.sdk.jobs import prepare_source
    from kiln.specs.yaml_source import YamlSource, read_yaml_file

    where = source.where(("create_job",))
    job_dir: Path | None
    if isinstance(job, str):
        path = (base_dir or Path.cwd()) / job
        if not path.is_file():
            raise InvalidSpec(f"{where}: create_job: job file '{job}' not found (looked for {path.resolve()})")
        job_source, job_dir = read_yaml_file(path), path.parent
        label = f"create_job ({job})"
    else:
        lines = {loc[1:]: line for loc, line in source.lines.items() if loc[:1] == ("create_job",)}
        job_source, job_dir = YamlSource(dict(job), source.path, lines), base_dir
        label = "create_job (the inline job)"
    try:
        return prepare_source(rest, job_source, job_dir, [])
    except InvalidSpec as exc:
        raise InvalidSpec(f"{label}: {exc.message}") from None
