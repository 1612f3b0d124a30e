"""Capabilities as plug-ins: listed without importing them, wired into the CLI, the server and the job
kinds, and a missing extra or a bad plug-in is the same clear error at every front door."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kiln.capabilities import BUILT_IN, load_capabilities
from kiln.capabilities.registry import capability_of_job_type
from kiln.capabilities.services import CapabilityContext, CapabilityServices
from kiln.config import Settings
from kiln.errors import InvalidSpec, MissingExtra, NotFound
from kiln.server.app import create_app
from kiln.specs.job_kinds import job_kind, parse_job_spec
from tests.conftest import REPO

PLUGINS = "tests.capability_plugins"
ECHO, HEAVY, ABSENT = f"{PLUGINS}.echo", f"{PLUGINS}.heavy", f"{PLUGINS}.absent"
MISSING_ABSENT = (
    "needs 'kiln_test_absent_extra_module' (the kiln[absent-test] extra), which is not installed in "
    f'{sys.executable}: pip install "kiln[absent-test]"'
)


def kiln(*args: str, plugins: str = "", home: Path) -> subprocess.CompletedProcess[str]:
    """The real ``kiln`` command in a fresh Python (nothing imported beforehand), with ``KILN_PLUGINS``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env |= {"KILN_HOME": str(home), "KILN_PLUGINS": plugins, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "kiln", *args], capture_output=True, text=True, env=env, cwd=REPO
    )


def test_help_lists_a_plugins_command_without_importing_its_modules(tmp_path: Path) -> None:
    result = kiln("--help", plugins=f"{HEAVY},{ECHO}", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "heavy-test" in result.stdout and "Needs a heavy package." in result.stdout  # its module cannot import
    assert "echo-test" in result.stdout and "tensorboard" in result.stdout


def test_import_kiln_and_kiln_help_import_no_capability_module() -> None:
    code = (
        "import sys, kiln; from kiln.cli.main import app, cli_capabilities; cli_capabilities(); "
        "import typer.main; typer.main.get_command(app); "
        "print(sorted(m for m in sys.modules if m.startswith('kiln.tensorboard.') or m == 'tensorboard'))"
    )
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_plugins_command_runs_when_called(tmp_path: Path) -> None:
    result = kiln("echo-test", "hello", "there", plugins=ECHO, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "echo: hello there"


def test_a_plugins_job_kind_is_known_once_it_is_loaded() -> None:
    load_capabilities([ECHO])
    spec = parse_job_spec({"type": "echo-test", "message": "hi"})
    assert type(spec).__name__ == "EchoJobSpec" and spec.message == "hi"  # type: ignore[attr-defined]
    assert job_kind("echo-test").load_handler().__name__ == "EchoHandler"
    echo = capability_of_job_type("echo-test")
    assert echo is not None and echo.name == "echo-test"
    assert capability_of_job_type("command") is None  # kiln's own


def test_a_missing_extra_in_the_cli_names_the_extra_with_its_own_exit_code(tmp_path: Path) -> None:
    listed = kiln("--help", plugins=ABSENT, home=tmp_path)
    assert listed.returncode == 0 and "absent-test" in listed.stdout  # listed all the same
    result = kiln("absent-test", "anything", plugins=ABSENT, home=tmp_path)
    assert result.returncode == MissingExtra.exit_code == 7
    assert result.stderr.strip() == f"error: kiln absent-test {MISSING_ABSENT}"


def test_a_missing_extra_on_the_server_is_a_501_with_the_message(tmp_path: Path) -> None:
    settings = Settings.load(home=tmp_path, plugins=f"{ABSENT},{ECHO}")
    app = create_app(settings)  # the workspace itself is not opened: these routes do not reach it
    client = TestClient(app, headers={"Authorization": f"Bearer {settings.token_file.read_text().strip()}"})
    answer = client.get("/api/v1/absent-test/ping")
    assert answer.status_code == 501
    assert answer.json() == {
        "error": {
            "type": "MissingExtra",
            "message": f"GET /api/v1/absent-test/ping on the workspace server {MISSING_ABSENT}",
        }
    }
    assert client.get("/api/v1/echo-test/ping").json() == {"echo": "pong"}
    assert "/api/v1/absent-test/ping" in client.get("/openapi.json").json()["paths"]  # the contract does not vary


def test_services_are_built_from_the_context_and_closed_with_the_workspace(tmp_path: Path) -> None:
    context = CapabilityContext(**{name: None for name in CapabilityContext.__dataclass_fields__} | _paths(tmp_path))
    opened = [c for c in load_capabilities([ECHO, ABSENT]) if c.service is None or c.name.endswith("-test")]
    services = CapabilityServices.open(opened, context)  # (the built-in services need a real workspace's)
    echo = services.get("echo-test")
    assert echo.say("hi") == "echo: hi" and echo.folder == tmp_path / "capabilities" / "echo-test"
    assert echo.folder.is_dir()
    with pytest.raises(MissingExtra, match=r'pip install "kiln\[absent-test\]"'):
        services.get("absent-test")  # its factory was never called
    with pytest.raises(NotFound):
        services.get("tensorboard")  # a capability without a service
    services.close()
    assert echo.closed


def _paths(home: Path) -> dict[str, Any]:
    return {"folder": home / "capabilities", "url": "http://127.0.0.1:1"}


def test_a_plugin_that_does_not_load_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    result = kiln("--help", plugins="kiln_no_such_plugin_module", home=tmp_path)
    assert result.returncode == InvalidSpec.exit_code
    assert result.stderr.strip() == (
        "error: plugins (KILN_PLUGINS, or 'plugins' in config.yaml): cannot load the plug-in "
        "'kiln_no_such_plugin_module': no module named 'kiln_no_such_plugin_module' in this Python"
    )
    assert "Traceback" not in result.stderr
    with pytest.raises(InvalidSpec, match=r"'tests.capability_plugins.not_a_capability': it has no CAPABILITY"):
        load_capabilities([f"{PLUGINS}.not_a_capability"])


def test_a_capability_name_or_command_that_is_taken_is_refused(tmp_path: Path) -> None:
    assert load_capabilities(["kiln.tensorboard", ECHO])[0].name == "tensorboard"  # a built-in named again: ignored
    with pytest.raises(InvalidSpec, match=r"'.*clashing' and 'kiln.tensorboard' are both the capability 'tensorboard'"):
        load_capabilities([f"{PLUGINS}.clashing"])
    result = kiln("--help", plugins=f"{PLUGINS}.clashing_command", home=tmp_path)
    assert result.returncode == InvalidSpec.exit_code
    assert "adds the command 'kiln job', which kiln already has" in result.stderr


def test_plugins_come_from_the_environment_or_config_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KILN_PLUGINS", raising=False)
    (tmp_path / "config.yaml").write_text("plugins: [first.plugin, second.plugin]\n")
    assert Settings.load(home=tmp_path).plugin_modules == ("first.plugin", "second.plugin")
    monkeypatch.setenv("KILN_PLUGINS", "one, two,")
    assert Settings.load(home=tmp_path).plugin_modules == ("one", "two")
    assert load_capabilities()[: len(BUILT_IN)] == load_capabilities([ECHO])[: len(BUILT_IN)]
