"""Which GPUs this machine has: the workspace's ``gpus`` setting, else what nvidia-smi lists (standard library only)."""

from __future__ import annotations

import shutil
import subprocess


def local_gpus(setting: str | None) -> tuple[str, ...]:
    """The ``gpus`` setting ("0,1"; "" for none), or, when it is not set, what nvidia-smi finds."""
    if setting is None:
        return discover_gpus()
    return parse_gpu_ids(setting)


def parse_gpu_ids(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in text.replace("\n", ",").split(",") if part.strip()))


def discover_gpus() -> tuple[str, ...]:
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return ()
    try:
        found = subprocess.run(
            [executable, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_gpu_ids(found.stdout) if found.returncode == 0 else ()
