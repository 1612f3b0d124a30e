"""``KILN_HOME/config.yaml``: where it is and what it says, read without pydantic-settings (the CLI reads
its ``plugins`` at every start; ``kiln.config.Settings`` reads the whole file through here too)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kiln.errors import InvalidSpec

CONFIG_FILE_NAME = "config.yaml"


def default_home() -> Path:
    return Path(os.environ.get("KILN_HOME") or Path.home() / ".kiln").expanduser()


def config_file(home: str | Path | None = None) -> Path:
    return Path(home or default_home()).expanduser() / CONFIG_FILE_NAME


def read_config_file(home: str | Path | None = None) -> dict[str, Any]:
    """The settings config.yaml gives, by name (``-`` read as ``_``); empty when there is no such file."""
    path = config_file(home)
    if not path.is_file():
        return {}
    from kiln.specs.yaml_source import load_yaml  # imported only where a config.yaml exists

    data = load_yaml(path.read_text(), str(path))[1] or {}
    if not isinstance(data, dict):
        raise InvalidSpec(f"{path}: expected a mapping of setting names to values")
    return {str(k).replace("-", "_"): v for k, v in data.items()}
