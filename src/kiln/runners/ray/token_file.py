"""A Ray cluster's token (Ray's token authentication, ``RAY_AUTH_MODE=token``), read from a file on the workspace
server's machine each time kiln makes a client for the cluster: never stored, logged or answered.

The file holds the token alone, as Ray writes it (``ray get-auth-token --generate`` writes ``~/.ray/auth_token``
on the head node; ``ray get-auth-token`` prints it): one bearer token in RFC 6750's characters, surrounding
whitespace ignored. Whoever holds the token runs code on the cluster, so, as ssh with a private key, kiln refuses
a file that other users may read or change (mode wider than 0600) rather than warn about it. A file that is not
a token is refused by its path alone: kiln never says what it holds.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from kiln.errors import InvalidSpec

MAX_TOKEN_BYTES = 4096
BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750's b64token: what an Authorization header may carry
GET_TOKEN = "ray get-auth-token on the head node prints the cluster's token"


def read_token(path: Path, compute: str) -> str:
    """The token in ``path``; InvalidSpec saying what is wrong with the file (never what it holds) and the fix."""
    where = f"the token file {path} of Ray compute '{compute}'"
    try:
        found = path.stat()
    except FileNotFoundError:
        raise InvalidSpec(f"{where} does not exist on the workspace server's machine ({GET_TOKEN})") from None
    except (OSError, ValueError) as exc:  # ValueError: a name the file system cannot encode
        raise InvalidSpec(f"{where} cannot be read: {getattr(exc, 'strerror', None) or 'not a valid path'}") from None
    if not stat.S_ISREG(found.st_mode):
        raise InvalidSpec(f"{where} is not a file; name the file that holds the cluster's token")
    shared = stat.S_IMODE(found.st_mode) & 0o077
    if shared:
        raise InvalidSpec(
            f"{where} may be read or changed by other users (mode {stat.S_IMODE(found.st_mode):04o}); whoever reads "
            f"it can run code on the cluster: chmod 600 {path}"
        )
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise InvalidSpec(f"{where} cannot be read by the workspace server: {exc.strerror}") from None
    token = data.decode("ascii", errors="replace").strip()
    if not token:
        raise InvalidSpec(f"{where} is empty; put the cluster's token in it ({GET_TOKEN})")
    if len(data) > MAX_TOKEN_BYTES or not BEARER_TOKEN.fullmatch(token):
        raise InvalidSpec(
            f"{where} does not hold a token (one line of letters, digits and -._~+/=, at most {MAX_TOKEN_BYTES} "
            f"bytes); put the cluster's token alone in it ({GET_TOKEN})"
        )
    return token


def bearer_headers(path: Path | None, compute: str) -> dict[str, str]:
    """What every request to the cluster carries: its token, read now, when the compute names a token file."""
    return {"Authorization": f"Bearer {read_token(path, compute)}"} if path is not None else {}
