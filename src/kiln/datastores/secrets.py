"""Datastore credentials at rest: sealed with Fernet (AES-128-CBC + HMAC) under a key in the workspace's home.

The key file (``KILN_HOME/datastore.key``, 0600) is made on first use. The database holds only the
sealed text, so a database dump or a workspace archive shows no secret; servers that share one
PostgreSQL database must share the key file too (copy it into each home).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from kiln.errors import KilnError

KEY_FILE = "datastore.key"


class CredentialBox:
    def __init__(self, key_file: Path) -> None:
        self._key_file = key_file
        self._fernet: Fernet | None = None

    def _key(self) -> Fernet:
        if self._fernet is None:
            if not self._key_file.exists():
                self._key_file.parent.mkdir(parents=True, exist_ok=True)
                try:
                    fd = os.open(self._key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    pass  # another server of this home made it first
                else:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(Fernet.generate_key())
            self._fernet = Fernet(self._key_file.read_bytes().strip())
        return self._fernet

    def seal(self, fields: dict[str, str]) -> str:
        return self._key().encrypt(json.dumps(fields).encode()).decode()

    def open(self, sealed: str, datastore: str) -> dict[str, str]:
        try:
            return dict(json.loads(self._key().decrypt(sealed.encode())))
        except InvalidToken:
            raise KilnError(
                f"datastore '{datastore}': its credential was sealed with another key than {self._key_file}; "
                "servers sharing a database must share that file (or create the datastore again)"
            ) from None
