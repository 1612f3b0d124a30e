"""Asset references as users write them: ``kiln:NAME:VERSION``, ``kiln:NAME@LABEL`` (also ``azureml:``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiln.errors import InvalidSpec

ASSET_PREFIXES = ("kiln:", "azureml:")
_PATTERN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?::(?P<version>[A-Za-z0-9_.-]+)|@(?P<label>[A-Za-z0-9_-]+))?$"
)


@dataclass(frozen=True)
class AssetReference:
    name: str
    version: str | None = None
    label: str | None = None  # 'latest' or an alias

    def __str__(self) -> str:
        return f"kiln:{self.name}" + (f":{self.version}" if self.version else f"@{self.label or 'latest'}")


def is_asset_reference(text: str | None) -> bool:
    return bool(text) and str(text).startswith(ASSET_PREFIXES) and not str(text).startswith(("azureml://", "kiln://"))


def parse_asset_reference(text: str, field: str) -> AssetReference:
    """Parse a reference; a bare name means ``@latest``. Errors name ``field``."""
    body = text
    for prefix in ASSET_PREFIXES:
        if body.startswith(prefix):
            body = body[len(prefix) :]
            break
    match = _PATTERN.match(body)
    if not match:
        raise InvalidSpec(
            f"{field}: {text!r} is not an asset reference; write kiln:NAME:VERSION, kiln:NAME@latest or kiln:NAME@ALIAS"
        )
    version, label = match.group("version"), match.group("label")
    return AssetReference(match.group("name"), version, label if label else (None if version else "latest"))
