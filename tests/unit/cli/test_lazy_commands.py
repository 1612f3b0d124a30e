"""The lazy CLI: ``kiln --help`` and ``kiln version`` import no command's module (nor the SDK, pydantic,
httpx…), yet list every command with its own help line, and each command still runs as itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from kiln import __version__
from kiln.capabilities import load_capabilities
from kiln.capabilities.registry import configured_plugins
from kiln.cli.commands import BUILT_IN_COMMANDS, LazyCommand
from kiln.cli.root import app
from kiln.config import Settings
from tests.conftest import REPO

ECHO = "tests.capability_plugins.echo"
# what a command that reaches a workspace needs, and `kiln --help` must not pay for
HEAVY = (
    "kiln.client", "kiln.sdk", "kiln.api", "kiln.config", "kiln.specs.job", "kiln.specs.views", "kiln.cli.jobs",
    "kiln.cli.render", "kiln.cli.models", "kiln.cli.users", "kiln.tensorboard.cli", "pydantic_settings", "httpx",
    "sqlalchemy", "fsspec", "click", "typer", "pydantic",
)  # fmt: skip
TYPERS_PAGE = (  # the page typer itself draws for `kiln --help`
    "import sys\n"
    "from kiln.cli.command_list import cli_capabilities\n"
    "from kiln.cli.root import app\n"
    "cli_capabilities()\n"
    "app(['--help'], standalone_mode=False, prog_name='kiln')\n"
)
LOADED = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('\\n'.join(sorted(sys.modules)), file=sys.stderr))\n"
    "from kiln.cli.main import main\n"
    "sys.argv[0] = 'kiln'\n"
    "main()\n"
)


def kiln(*args: str, home: Path, plugins: str = "") -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``kiln ARGS`` as the console script runs it, in a fresh Python; its output and every module it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env |= {"KILN_HOME": str(home), "KILN_PLUGINS": plugins, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    done = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True, text=True, env=env, cwd=REPO)
    return done, set(done.stderr.split())


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY))


def test_help_imports_no_commands_module_and_lists_every_command(tmp_path: Path) -> None:
    done, modules = kiln("--help", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert heavy_in(modules) == []
    done, _ = kiln("--help", home=tmp_path, plugins=ECHO)  # a plug-in's job kinds import the specs: it may
    assert done.returncode == 0, done.stderr
    commands = [c.name for c in BUILT_IN_COMMANDS] + ["tensorboard", "echo-test"]  # a built-in capability, a plug-in
    for name in commands:
        assert f" {name} " in done.stdout, f"{name} missing from kiln --help:\n{done.stdout}"
    assert "Print kiln's version." in done.stdout and "Show jobs in TensorBoard" in done.stdout


@pytest.mark.parametrize("colours", [False, True])
@pytest.mark.parametrize("width", ["80", "130"])
def test_the_help_page_drawn_without_typer_is_typers_own(tmp_path: Path, colours: bool, width: str) -> None:
    extra = {"TERMINAL_WIDTH": width} | ({"FORCE_COLOR": "1"} if colours else {"_TYPER_FORCE_DISABLE_TERMINAL": "1"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_") and k not in ("FORCE_COLOR", "NO_COLOR")}
    env |= {"KILN_HOME": str(tmp_path), "KILN_PLUGINS": ECHO, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    env |= extra
    ours = subprocess.run([sys.executable, "-c", LOADED, "--help"], capture_output=True, text=True, env=env, cwd=REPO)
    typers = subprocess.run([sys.executable, "-c", TYPERS_PAGE], capture_output=True, text=True, env=env, cwd=REPO)
    assert ours.returncode == typers.returncode == 0, ours.stderr + typers.stderr
    assert ("\x1b[" in ours.stdout) is colours and "echo-test" in ours.stdout
    assert ours.stdout == typers.stdout


def test_version_imports_no_command_nor_typer(tmp_path: Path) -> None:
    for args in (["version"], ["--version"]):
        done, modules = kiln(*args, home=tmp_path)
        assert (done.returncode, done.stdout) == (0, f"{__version__}\n"), done.stderr
        assert heavy_in(modules) == [] and "rich" not in modules


def test_a_group_s_help_imports_that_group_only(tmp_path: Path) -> None:
    done, modules = kiln("job", "--help", home=tmp_path)
    assert done.returncode == 0 and "Usage: kiln job" in done.stdout and " list " in done.stdout
    assert "kiln.cli.jobs" in modules
    assert not {"kiln.cli.models", "kiln.cli.endpoints", "kiln.client", "httpx", "pydantic_settings"} & modules


@pytest.mark.parametrize("command", BUILT_IN_COMMANDS, ids=lambda c: c.name)
def test_each_listed_help_line_is_the_commands_own(command: object) -> None:
    """The names and lines kiln --help shows without importing are those of the command that runs."""
    lazy = LazyCommand(command)  # type: ignore[arg-type]
    real = lazy.load()
    assert real.name == lazy.name
    assert " ".join((real.help or "").split()) == lazy.help


def test_the_top_level_group_holds_each_command_once_in_order() -> None:
    group = typer.main.get_command(app)
    listed = group.list_commands(None)  # type: ignore[attr-defined,arg-type]
    assert listed[: len(BUILT_IN_COMMANDS)] == [c.name for c in BUILT_IN_COMMANDS]
    assert len(listed) == len(set(listed)) and "tensorboard" in listed


def test_plugins_are_read_as_the_settings_read_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KILN_PLUGINS", raising=False)
    monkeypatch.setenv("KILN_HOME", str(tmp_path))
    assert configured_plugins() == Settings.load().plugin_modules == ()
    (tmp_path / "config.yaml").write_text("plugins: [first.plugin, second.plugin]\nport: 0\n")
    assert configured_plugins() == Settings.load().plugin_modules == ("first.plugin", "second.plugin")
    assert configured_plugins(tmp_path) == Settings.load(home=tmp_path).plugin_modules
    monkeypatch.setenv("KILN_PLUGINS", "one, two,")
    assert configured_plugins() == Settings.load().plugin_modules == ("one", "two")
    monkeypatch.setenv("KILN_PLUGINS", "")  # set, empty: no plug-ins, whatever config.yaml says
    assert configured_plugins() == Settings.load().plugin_modules == ()
    monkeypatch.delenv("KILN_PLUGINS")
    monkeypatch.setenv("kiln_plugins", ECHO)  # the environment's names in any case, as pydantic-settings reads them
    assert configured_plugins() == Settings.load().plugin_modules == (ECHO,)
    assert [c.name for c in load_capabilities(configured_plugins())][-1] == "echo-test"


def test_a_client_imports_the_operations_it_uses_only() -> None:
    """``kiln job list`` builds the jobs' operations and views, not every resource's (data, endpoints…)."""
    code = (
        "import sys; from kiln.client import Client\n"
        "client = Client(url='http://127.0.0.1:9', token='t'); client.jobs\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('kiln.sdk.', 'kiln.api.', 'kiln.specs.')))))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")} | {"PYTHONPATH": str(REPO / "src")}
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    )
    assert {"kiln.sdk.jobs", "kiln.sdk.rest"} <= loaded
    assert (
        not {"kiln.sdk.data", "kiln.sdk.endpoints", "kiln.api.endpoints", "kiln.api.data", "kiln.specs.endpoint"}
        & loaded
    )


def test_a_long_job_list_imports_neither_httpx_nor_rich_nor_yaml() -> None:
    """``kiln job list`` of a plain-http workspace: the standard library's HTTP client, the plain table (no Rich),
    no YAML read (issue 13: each of these took tens of milliseconds of its start)."""
    view = {
        "id": "a" * 32, "name": "a" * 32, "display_name": None, "experiment_name": "e", "experiment_id": "1",
        "status": "completed", "compute": "local", "command": "python t.py", "code_hash": None,
        "created_at": "2026-01-01T00:00:00Z", "preparing_at": None, "started_at": None, "ended_at": None,
        "duration_seconds": None, "exit_code": None, "failure_reason": None, "inputs": {}, "outputs": [], "tags": {},
        "mlflow_run_url": "http://x/mlflow",
    }  # fmt: skip
    code = (
        "import sys\n"
        "from kiln import api\n"
        "from kiln.cli import render\n"
        "from kiln.sdk.rest import RestClient, _parsed\n"
        "RestClient('http://127.0.0.1:9', 't')\n"
        f"views = _parsed(api.jobs.LIST.response, {json.dumps([view] * 101)!r}.encode())\n"
        "render.show(render.jobs_table(views))\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'rich', 'yaml'))), file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")} | {"PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stderr.strip() == ""
    assert sum(1 for line in done.stdout.splitlines() if "│ completed │" in line) == 101  # every row, as plain text
