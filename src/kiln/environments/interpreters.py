"""Finding the Python interpreter an environment asks for; uv never downloads one."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass

from kiln.errors import InvalidSpec

# Only interpreters that are on this machine: a download would be slow, surprising, and
# impossible behind a firewall.
NO_DOWNLOADS = {"UV_PYTHON_DOWNLOADS": "never"}
ONLY_SYSTEM = ["--python-preference", "only-system"]


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str  # e.g. 3.11.7


def server_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


class InterpreterFinder:
    """``uv python find`` with memory: the answer is part of every hash, so it must be cheap."""

    def __init__(self, uv: str, environ: dict[str, str]) -> None:
        self._uv = uv
        self._environ = {**environ, **NO_DOWNLOADS}
        self._found: dict[str, Interpreter] = {}
        self._lock = threading.Lock()

    def find(self, request: str) -> Interpreter:
        with self._lock:
            if request not in self._found:
                self._found[request] = self._find(request)
            return self._found[request]

    def available(self) -> list[str]:
        """The Python versions on this machine (X.Y.Z, newest first), as uv finds them."""
        listed = subprocess.run(
            [self._uv, "python", "list", "--only-installed", *ONLY_SYSTEM, "--output-format", "json"],
            capture_output=True, text=True, env=self._environ, timeout=120,
        )  # fmt: skip
        try:
            versions = {str(entry["version"]) for entry in json.loads(listed.stdout or "[]")}
        except (ValueError, TypeError, KeyError):
            return []
        return sorted(versions, key=_version_key, reverse=True)

    def _find(self, request: str) -> Interpreter:
        found = subprocess.run(
            [self._uv, "python", "find", *ONLY_SYSTEM, request],
            capture_output=True, text=True, env=self._environ, timeout=120,
        )  # fmt: skip
        if found.returncode != 0 or not found.stdout.strip():
            reason = (found.stderr.strip().splitlines() or ["no interpreter found"])[0]
            has = ", ".join(self.available()) or "none found"
            raise InvalidSpec(
                f"python {request} is not available on the workspace server (it has python {has}), and kiln "
                f"never downloads interpreters: ask for one of those versions or install {request} there (uv: {reason})"
            )
        executable = found.stdout.strip().splitlines()[-1]
        probe = subprocess.run(
            [executable, "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if probe.returncode != 0:
            raise InvalidSpec(f"python {request}: the interpreter {executable} does not start: {probe.stderr.strip()}")
        return Interpreter(executable, probe.stdout.strip())


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
