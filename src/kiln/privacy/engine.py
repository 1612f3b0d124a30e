"""The server's side of the privacy engine: one long-lived process of the engine's own Python (SmartNoise SQL
and OpenDP live in a separate environment: they pin pandas < 3 and an ANTLR runtime kiln's cannot share), run
``engine_process.py`` and asked one request at a time over stdin/stdout. Rows never leave the server: the engine
reads the version's stored file and answers aggregates only.

Where the engine's Python is: the ``privacy_engine_python`` setting (``KILN_PRIVACY_ENGINE_PYTHON``), else
``.venv-privacy/bin/python`` beside the environment kiln runs in (what ``scripts/install.sh privacy`` makes, from
``engine-requirements.txt``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from kiln.errors import InvalidSpec, KilnError, MissingExtra

ENGINE_PYTHON_SETTING = "privacy_engine_python (KILN_PRIVACY_ENGINE_PYTHON)"
ENGINE_SCRIPT = Path(__file__).with_name("engine_process.py")
REQUIREMENTS = Path(__file__).with_name("engine-requirements.txt")


def engine_python(configured: str = "") -> Path:
    """The engine's Python: the setting's, else the one beside kiln's environment."""
    if configured:
        return Path(configured)
    return Path(sys.prefix).parent / ".venv-privacy" / "bin" / "python"


class EngineFailed(KilnError):
    """The engine could not answer (it stopped, or failed on something that is not the request's fault)."""

    http_status = 500


class PrivacyEngine:
    """One engine process, started on first use and again if it stops; requests are answered one at a time."""

    def __init__(self, python: Path | None = None, script: Path = ENGINE_SCRIPT) -> None:
        self.python = python or engine_python()
        self.script = script  # another one only to compare with (bench/privacy/engine_times.py --baseline)
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def check_installed(self) -> None:
        if not self.python.exists():
            raise MissingExtra(
                f"kiln privacy needs its engine (SmartNoise SQL, OpenDP in their own environment), which is not "
                f"installed at {self.python}: run scripts/install.sh privacy, or make a venv with "
                f"pip install --no-deps -r {REQUIREMENTS} and set {ENGINE_PYTHON_SETTING} to its python"
            )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """The engine's answer to ``request``; InvalidSpec for what it refuses, EngineFailed if it fails."""
        self.check_installed()
        with self._lock:
            answer = self._exchange(json.dumps(request))
        if answer.get("ok"):
            return answer
        if answer.get("error") in ("query", "cost", "request"):
            raise InvalidSpec(f"{request.get('field', 'query')}: {answer.get('message')}")
        raise EngineFailed(f"the privacy engine failed: {answer.get('message')}")

    def _exchange(self, line: str) -> dict[str, Any]:
        process = self._running()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(line + "\n")
            process.stdin.flush()
            reply = process.stdout.readline()
        except (BrokenPipeError, OSError):
            reply = ""
        if not reply:
            self.close()
            raise EngineFailed("the privacy engine stopped while answering; nothing was charged, try again")
        answer: dict[str, Any] = json.loads(reply)
        return answer

    def _running(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(  # noqa: S603 - our own script, in the engine's Python
                [str(self.python), "-I", str(self.script)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OPENDP_TELEMETRY": "0"},
            )  # fmt: skip
        return self._process

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
