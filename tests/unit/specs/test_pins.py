"""Pinned records are typed, and the JSON kept on job rows (and in workspace archives) keeps its shape."""

from __future__ import annotations

import sys

import pytest
from pydantic import ValidationError

from kiln.specs.pins import (
    DataPin,
    InlineEnvironmentPin,
    ModelPin,
    RegisteredEnvironmentPin,
    ServerInterpreterPin,
    UploadPin,
    environment_pin,
    input_pins,
    input_records,
)
from kiln.specs.views import JobView

# records as kiln wrote them before pins were typed (services/environments.py, job_inputs.py, data.py, model_inputs.py)
SERVER = {"kind": "server-interpreter", "python": "/usr/bin/python3"}
INLINE = {
    "kind": "inline", "hash": "ab" * 32, "python": "3.11.9", "requirements": ["six==1.16.0", "mlflow-skinny"],
    "image": None, "added": "mlflow-skinny",
}  # fmt: skip
REGISTERED = {
    "kind": "kiln", "name": "sk", "version": "2", "hash": "cd" * 32, "python": "3.11.9",
    "requirements": ["scikit-learn"], "image": "python:3.11",
}  # fmt: skip
BUILT = {"lock": ["scikit-learn==1.5.0", "numpy==2.0.0"], "build_log": "/home/envs/logs/x.log", "venv": "/home/envs/x"}
UPLOAD = {"kind": "upload", "key": "snapshots/" + "e" * 64, "content_hash": "e" * 64}
DATA = {
    "kind": "data", "reference": "kiln:iris@latest", "name": "iris", "version": "3", "type": "uri_file",
    "content_hash": "f" * 64, "key": "data/" + "f" * 64, "file": "iris.csv",
}  # fmt: skip
MODEL = {"kind": "model", "name": "digits", "version": "1", "requested": "kiln:digits@champion"}


@pytest.mark.parametrize(
    "record",
    [SERVER, INLINE, REGISTERED, {**REGISTERED, **BUILT}, {**INLINE, **BUILT, "ray_runtime_env_pip": ["six"]}],
    ids=["server", "inline", "registered", "built", "on-ray"],
)
def test_environment_records_round_trip_unchanged(record: dict[str, object]) -> None:
    pin = environment_pin(record)
    assert pin.kind == record["kind"]
    assert pin.record() == record  # no key added (not even a null), none lost


def test_environment_pins_say_what_they_are() -> None:
    server, inline, registered = environment_pin(SERVER), environment_pin(INLINE), environment_pin(REGISTERED)
    assert isinstance(server, ServerInterpreterPin) and server.label == "server-interpreter" and server.is_exact
    assert isinstance(inline, InlineEnvironmentPin) and inline.label == "inline" and not inline.is_exact
    assert isinstance(registered, RegisteredEnvironmentPin) and registered.label == "sk:2"
    assert environment_pin({**REGISTERED, **BUILT}).is_exact  # a rerun repeats the exact packages


def test_a_record_without_a_kind_is_the_server_interpreter() -> None:
    """Jobs recorded before environments existed have an empty record; they ran on the server's Python."""
    assert isinstance(environment_pin({}), ServerInterpreterPin)
    assert isinstance(environment_pin(None), ServerInterpreterPin)


def test_fields_written_by_another_kiln_version_are_kept() -> None:
    record = {**REGISTERED, "builder": "uv 0.9"}
    assert environment_pin(record).record() == record
    assert input_pins({"x": {**MODEL, "stage": "prod"}})["x"].record() == {**MODEL, "stage": "prod"}


def test_preparing_adds_what_was_built_and_keeps_the_rest() -> None:
    pinned = environment_pin(INLINE)
    prepared = pinned.model_copy(update={"hash": "99" * 32, **BUILT})
    assert prepared.record() == {**INLINE, "hash": "99" * 32, **BUILT}


def test_a_pin_made_in_code_has_the_shape_of_the_old_records() -> None:
    assert ServerInterpreterPin(python=sys.executable).record() == {
        "kind": "server-interpreter",
        "python": sys.executable,
    }
    assert InlineEnvironmentPin(**{k: v for k, v in INLINE.items() if k != "kind"}).record() == INLINE  # type: ignore[arg-type]
    assert UploadPin(key=UPLOAD["key"], content_hash=UPLOAD["content_hash"]).record() == UPLOAD
    assert DataPin(**{k: v for k, v in DATA.items() if k != "file"}).record() == {  # type: ignore[arg-type]
        k: v for k, v in DATA.items() if k != "file"
    }  # a folder asset has no 'file'


def test_input_records_are_typed_by_kind_and_round_trip() -> None:
    records = {"code_files": UPLOAD, "table": DATA, "base": MODEL}
    pins = input_pins(records)
    assert isinstance(pins["code_files"], UploadPin)
    assert isinstance(pins["table"], DataPin) and pins["table"].file == "iris.csv"
    assert isinstance(pins["base"], ModelPin) and pins["base"].requested == "kiln:digits@champion"
    assert input_records(pins) == records
    with pytest.raises(ValidationError):
        input_pins({"x": {"kind": "somewhere", "key": "k"}})


def test_a_job_view_carries_typed_pins_and_its_json_keeps_their_shape() -> None:
    view = JobView.model_validate(
        {
            "id": "r", "name": "n", "display_name": None, "experiment_name": "e", "experiment_id": "1",
            "status": "completed", "compute": "local", "command": "echo", "code_hash": None,
            "created_at": "2026-01-01T00:00:00Z", "preparing_at": None, "started_at": None, "ended_at": None,
            "duration_seconds": None, "exit_code": 0, "failure_reason": None, "inputs": {}, "outputs": [], "tags": {},
            "mlflow_run_url": "u", "pinned_inputs": {"table": DATA}, "environment": {**REGISTERED, **BUILT},
        }
    )  # fmt: skip
    assert view.type == "command"  # views from servers that did not send it
    assert isinstance(view.environment, RegisteredEnvironmentPin) and view.environment.lock == BUILT["lock"]
    dumped = view.model_dump(mode="json")
    assert dumped["environment"] == {**REGISTERED, **BUILT} and dumped["pinned_inputs"] == {"table": DATA}
