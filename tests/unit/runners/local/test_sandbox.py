"""The sandbox's command line (kiln.runners.local.sandbox), built without running it, and one real run where
bubblewrap is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kiln.runners.local.sandbox import (
    JobSandbox,
    SandboxView,
    sandbox_command,
    without_server_credentials,
)

HOME = Path("/srv/kiln")
JOB = HOME / "jobs" / "run-1"


def _pairs(args: list[str], flag: str) -> list[tuple[str, str]]:
    return [(args[i + 1], args[i + 2]) for i, arg in enumerate(args) if arg == flag]


def _singles(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


def test_the_machine_is_read_only_and_kiln_home_is_replaced_by_an_empty_folder() -> None:
    args = sandbox_command("/usr/bin/bwrap", HOME, SandboxView(JOB), uid=None)
    assert args[args.index("/usr/bin/bwrap") + 1 : args.index("/usr/bin/bwrap") + 4] == ["--ro-bind", "/", "/"]
    assert _singles(args, "--tmpfs") == ["/dev/shm", "/tmp", str(HOME)]
    assert "--unshare-pid" in args and "--unshare-ipc" in args and _singles(args, "--proc") == ["/proc"]
    # its folder: the root read-only (the shim's log and result), its own folders writable
    assert (str(JOB), str(JOB)) in _pairs(args, "--ro-bind")
    assert [source for source, _ in _pairs(args, "--bind")] == [
        str(JOB / n) for n in ("wd", "inputs", "outputs", "tmp", "home", "python")
    ]
    assert _singles(args, "--chdir") == [str(JOB / "wd")]
    # bound after KILN_HOME was hidden, or the tmpfs would hide them again
    assert args.index(str(HOME)) < args.index(str(JOB))


def test_as_root_the_command_drops_to_the_jobs_uid_without_capabilities() -> None:
    args = sandbox_command("bwrap", HOME, SandboxView(JOB), uid=4242)
    after = args[args.index("--") + 1 :]
    assert after[:2] == ["env", "--default-signal=TERM,INT"]
    assert after[3:] == [
        "--reuid", "4242", "--regid", "4242", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
        "--no-new-privs", "--",
    ]  # fmt: skip
    assert "--unshare-user" not in args  # as root, a user namespace would map the job to uid 0 outside


def test_without_root_a_user_namespace_and_the_stop_signals_reach_the_command() -> None:
    args = sandbox_command("bwrap", HOME, SandboxView(JOB), uid=None)
    assert args[:2] == ["env", "--ignore-signal=TERM,INT"]  # bwrap's own process outlives a cancel's SIGTERM
    assert args[args.index("--") - 1] == "--unshare-user"
    assert args[args.index("--") + 1 :] == ["env", "--default-signal=TERM,INT"]


def test_what_the_job_reads_is_bound_back_only_where_it_was_hidden() -> None:
    env_venv, interpreter = HOME / "envs" / "abc" / "venv", Path("/root/.pyenv/versions/3.11.7")
    view = SandboxView(JOB, readable=(env_venv, interpreter, Path("/usr"), HOME.parent))
    blocked = {Path("/root")}
    args = sandbox_command("bwrap", HOME, view, uid=4242, traversable=lambda path: path not in blocked)
    ro_binds = [source for source, _ in _pairs(args, "--ro-bind")]
    assert str(env_venv) in ro_binds and str(interpreter) in ro_binds
    assert "/usr" not in ro_binds  # visible anyway, read-only
    assert str(HOME.parent) not in ro_binds  # it holds KILN_HOME: never bound back
    assert "/root" in _singles(args, "--tmpfs")  # the uid could not pass through it: an empty one, 0755
    made = _singles(args, "--dir")
    assert made[:2] == ["/root/.pyenv", "/root/.pyenv/versions"] and str(HOME / "jobs") in made
    assert all(args[args.index("--dir", i) - 1] == "0755" for i in range(len(args)) if args[i] == "--dir")


def test_read_only_inputs_are_bound_read_only_over_the_jobs_folder() -> None:
    source, target = HOME / "cache" / "data" / "d1", JOB / "inputs" / "d1"
    args = sandbox_command("bwrap", HOME, SandboxView(JOB, read_only_mounts=((source, target),)), uid=None)
    assert _pairs(args, "--ro-bind")[-1] == (str(source), str(target))
    assert args.index(str(target)) > args.index(str(JOB / "inputs"))  # after the writable inputs folder


def test_devices_of_gpus_stay_usable() -> None:
    args = sandbox_command("bwrap", HOME, SandboxView(JOB), uid=None, devices=[Path("/dev/nvidia0")])
    assert ("/dev/nvidia0", "/dev/nvidia0") in _pairs(args, "--dev-bind")


def test_the_server_settings_and_credentials_are_not_inherited() -> None:
    kept = without_server_credentials(
        {"PATH": "/bin", "KILN_HOME": "/srv", "KILN_DATABASE_URL": "x", "AWS_SECRET_ACCESS_KEY": "s",
         "AWS_ACCESS_KEY_ID": "a", "HF_TOKEN": "t", "LANG": "C", "MY_PASSWORD": "p"}
    )  # fmt: skip
    assert kept == {"PATH": "/bin", "LANG": "C"}


def test_a_missing_tool_says_so_and_the_job_is_not_isolated(tmp_path: Path) -> None:
    sandbox = JobSandbox(tmp_path, tool=str(tmp_path / "no-bwrap"))
    assert not sandbox.availability().available
    assert (
        sandbox.isolation()
        == f"not isolated: the sandbox tool {tmp_path / 'no-bwrap'} (setting job_sandbox) does not exist"
    )
    assert (
        JobSandbox(tmp_path, tool="no-such-bwrap").isolation().startswith("not isolated: bubblewrap is not installed")
    )


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_a_real_sandbox_hides_kiln_home_and_keeps_the_jobs_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    job = home / "jobs" / "run-1"
    (home / "token").parent.mkdir(parents=True)
    (home / "token").write_text("secret")
    view = SandboxView(job)
    sandbox = JobSandbox(home)
    if not sandbox.availability().available:
        pytest.skip(sandbox.isolation())
    job.mkdir(parents=True)
    sandbox.prepare_folder(view)
    script = f"test ! -e {home}/token && ls {home} && touch {job}/wd/made && ! touch {job}/result.json 2>/dev/null"
    result = subprocess.run(
        [*sandbox.command(view), "sh", "-c", script], capture_output=True, text=True, timeout=30,
        env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["jobs"]
    assert (job / "wd" / "made").exists() and not (job / "result.json").exists()
