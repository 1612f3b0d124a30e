"""The content-addressed venv cache: ``<root>/<hash>/venv``, built once with uv, reused at once.

A build happens in a scratch folder and is renamed into place only when it is complete
(venvs are created ``--relocatable`` so the rename does not break them); a per-hash file
lock makes two jobs that need the same environment build it once. Every build's log is
kept under ``<root>/logs``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from kiln.environments.build_spec import BuildSpec
from kiln.environments.interpreters import NO_DOWNLOADS, ONLY_SYSTEM
from kiln.errors import KilnError

RECORD_NAME = "environment.json"
ERROR_LINES = 25

LineSink = Callable[[str], None]


@dataclass
class BuiltEnvironment:
    hash: str
    venv: str
    python: str
    requirements: list[str]
    lock: list[str]
    build_log: str
    built_at: str

    @property
    def bin_dir(self) -> Path:
        return Path(self.venv) / "bin"


class EnvironmentCache:
    def __init__(self, root: Path, uv: str, environ: dict[str, str] | None = None) -> None:
        self.root = root
        self._uv = uv
        self._environ = {**(os.environ if environ is None else environ), **NO_DOWNLOADS}
        self._environ.pop("VIRTUAL_ENV", None)  # uv must target the venv it is given, not the server's

    @property
    def uv(self) -> str:
        return self._uv

    # Reading -----------------------------------------------------------------------------
    def lookup(self, env_hash: str) -> BuiltEnvironment | None:
        """The finished environment with this hash, or None; a half-built one is never seen."""
        try:
            data = json.loads((self.root / env_hash / RECORD_NAME).read_text())
        except (OSError, ValueError):
            return None
        built = BuiltEnvironment(**data)
        return built if (built.bin_dir / "python").exists() else None

    def new_log(self, env_hash: str) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.root / "logs" / f"{env_hash}-{stamp}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # Building ------------------------------------------------------------------------------
    def ensure(self, spec: BuildSpec, say: LineSink, log: Path | None = None) -> BuiltEnvironment:
        """Reuse the environment if it exists, else build it (once, even if asked for twice at a time)."""
        env_hash = spec.hash
        found = self.lookup(env_hash)
        if found:
            say(f"environment {env_hash[:12]}: reused from the cache ({found.venv}, built {found.built_at})")
            return found
        with self._locked(env_hash, say):
            found = self.lookup(env_hash)
            if found:
                say(f"environment {env_hash[:12]}: built meanwhile by another request; reused")
                return found
            return self._build(spec, say, log or self.new_log(env_hash))

    @contextmanager
    def _locked(self, env_hash: str, say: LineSink) -> Iterator[None]:
        lock_path = self.root / "locks" / f"{env_hash}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"environment {env_hash[:12]}: another build of the same environment is running; waiting for it")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build(self, spec: BuildSpec, say: LineSink, log_path: Path) -> BuiltEnvironment:
        env_hash = spec.hash
        scratch = self.root / "building" / f"{env_hash}-{uuid.uuid4().hex[:8]}"
        venv = scratch / "venv"
        scratch.mkdir(parents=True)
        started = time.monotonic()
        try:
            with log_path.open("a", encoding="utf-8") as log:

                def both(line: str) -> None:
                    log.write(line + "\n")
                    log.flush()
                    say(line)

                both(f"environment {env_hash[:12]}: building with uv (python {spec.python}); log: {log_path}")
                for line in spec.requirements:
                    both(f"  requirement: {line}")
                requirements = scratch / "requirements.txt"
                requirements.write_text("\n".join(spec.requirements) + "\n")
                self._run(
                    ["venv", "--quiet", "--relocatable", *ONLY_SYSTEM, "--python", spec.interpreter, str(venv)], both
                )
                self._seed_pip(spec, venv, both)
                install = ["pip", "install", "--python", str(venv / "bin" / "python"), "-r", str(requirements)]
                self._run([*install, *spec.index.uv_arguments()], both, spec.index.uv_environment())
                lock = self._freeze(venv)
                both(
                    f"environment {env_hash[:12]}: {len(lock)} packages installed in {time.monotonic() - started:.1f} s"
                )
            built = BuiltEnvironment(
                hash=env_hash, venv=str(self.root / env_hash / "venv"), python=spec.python,
                requirements=list(spec.requirements), lock=lock, build_log=str(log_path),
                built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )  # fmt: skip
            (scratch / RECORD_NAME).write_text(json.dumps(asdict(built), indent=2))
            target = self.root / env_hash
            if target.exists():  # a stale, incomplete entry (no record): replace it
                shutil.rmtree(target, ignore_errors=True)
            os.replace(scratch, target)
            return built
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _run(self, args: list[str], both: LineSink, extra_env: dict[str, str] | None = None) -> None:
        """Run uv, copying its output line by line; a failure carries uv's own message."""
        env = {**self._environ, **(extra_env or {})}
        command = [self._uv, *args]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True, errors="replace"
        )
        output: list[str] = []
        assert process.stdout is not None
        for raw in _lines(process.stdout):
            line = raw.rstrip("\n")
            output.append(line)
            both(line)
        code = process.wait()
        if code != 0:
            raise KilnError(
                f"building the environment failed: uv {args[0]} {args[1] if args[0] == 'pip' else ''}".rstrip()
                + f" exited with code {code}:\n"
                + _installer_message(output)
            )

    def _seed_pip(self, spec: BuildSpec, venv: Path, both: LineSink) -> None:
        """Every environment has its own pip, so a job's ``pip install`` lands in its own venv (never in
        kiln's): the pip wheel bundled with the interpreter (ensurepip's, offline), else pip from the index."""
        python = str(venv / "bin" / "python")
        wheel = bundled_pip_wheel(python)
        if wheel is not None:
            both(f"seeding pip from the interpreter's own wheel ({wheel.name})")
            self._run(["pip", "install", "--quiet", "--python", python, "--no-index", str(wheel)], both)
        else:
            both("seeding pip from the index (the interpreter bundles no pip wheel)")
            self._run(
                ["pip", "install", "--quiet", "--python", python, "pip", *spec.index.uv_arguments()],
                both, spec.index.uv_environment(),
            )  # fmt: skip

    def _freeze(self, venv: Path) -> list[str]:
        frozen = subprocess.run(
            [self._uv, "pip", "freeze", "--python", str(venv / "bin" / "python")],
            capture_output=True, text=True, env=self._environ, timeout=300,
        )  # fmt: skip
        if frozen.returncode != 0:
            raise KilnError(f"building the environment failed: uv pip freeze: {frozen.stderr.strip()}")
        return [_seeded_pip_pin(line) for line in frozen.stdout.splitlines() if line.strip()]


def bundled_pip_wheel(python: str) -> Path | None:
    """The pip wheel that ``ensurepip`` of this interpreter would install, if it ships one."""
    probe = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if probe.returncode != 0:
        return None
    wheels = sorted((Path(probe.stdout.strip()) / "ensurepip" / "_bundled").glob("pip-*.whl"))
    return wheels[-1] if wheels else None


def _seeded_pip_pin(line: str) -> str:
    """``pip @ file:///…/ensurepip/_bundled/pip-23.2.1-py3-none-any.whl`` → ``pip==23.2.1`` (the seed, not a
    path of this machine: a rerun finds it installed already)."""
    match = re.match(r"^pip @ file:\S*/pip-([^-/]+)-py3-none-any\.whl$", line.strip())
    return f"pip=={match.group(1)}" if match else line


def _lines(stream: IO[str]) -> Iterator[str]:
    yield from iter(stream.readline, "")


def _installer_message(output: list[str]) -> str:
    """uv's error, from its first error line on (or the end of its output)."""
    for index, line in enumerate(output):
        stripped = line.lstrip()
        if stripped.startswith(("error:", "×", "x ")) or stripped.lower().startswith("error"):
            return "\n".join(output[index : index + ERROR_LINES]).strip()
    return "\n".join(output[-ERROR_LINES:]).strip()
