"""The workspace ``kiln login`` stored: its URL and a token, in a file only the user can read.

Kept in ``$KILN_CONFIG_DIR/login.json`` (default ``$XDG_CONFIG_HOME/kiln``, else
``~/.config/kiln``). The CLI and SDK use it when neither ``KILN_URL`` nor ``KILN_HOME`` is
set (with ``KILN_URL`` set to the same URL, only its token is taken).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from kiln.errors import InvalidSpec

LOGIN_FILE_NAME = "login.json"


@dataclass(frozen=True)
class StoredLogin:
    url: str
    token: str


def config_dir() -> Path:
    explicit = os.environ.get("KILN_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "kiln"


def login_file() -> Path:
    return config_dir() / LOGIN_FILE_NAME


def read_login() -> StoredLogin | None:
    path = login_file()
    try:
        data = json.loads(path.read_text())
        return StoredLogin(url=str(data["url"]), token=str(data["token"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidSpec(
            f"{path}: not a login kiln can read ({type(exc).__name__}); run 'kiln logout' and 'kiln login URL' again"
        ) from None


def save_login(login: StoredLogin) -> Path:
    """Write the file with mode 0600 (its folder 0700), replacing any earlier login at once."""
    path = login_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{LOGIN_FILE_NAME}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": login.url, "token": login.token}, handle)
    os.chmod(partial, 0o600)  # an older file of that name may have had other bits
    partial.replace(path)
    return path


def forget_login() -> Path | None:
    """Remove the stored login; the file it was in, or None if there was none."""
    path = login_file()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


def same_workspace(first: str, second: str) -> bool:
    return first.rstrip("/") == second.rstrip("/")
