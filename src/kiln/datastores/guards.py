"""What remote data may reach.

- Network: remote data never reaches the server's own machine, private networks or link-local addresses
  (cloud metadata services, kiln's internal MLflow and replicas on loopback) unless the operator lists
  that HOST:PORT in ``remote_private_hosts``. Checked on every request, redirects included (kiln follows
  them itself, checking each). A name is resolved once for the check; see SECURITY.md for what is left.
- Local folders: a ``local`` datastore points inside one of the folders the operator shares
  (``local_datastore_roots``), never into, onto or above the workspace's home (its token, keys, jobs).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from kiln.artifacts.references import is_inside
from kiln.errors import InvalidSpec


def check_url_host(url: str, allowed: frozenset[str], field: str) -> None:
    """InvalidSpec naming ``field`` when ``url``'s host is, or resolves to, an address remote data may not reach."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidSpec(f"{field}: {url!r} has no host name")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidSpec(f"{field}: {url!r} has no valid port") from None
    checked_address(host, port, allowed, field, url)


def checked_address(host: str, port: int, allowed: frozenset[str], field: str, what: str) -> str | None:
    """The address to connect to for ``host:port`` once checked (None: the operator allows that HOST:PORT, connect
    by name). Connecting to the address checked, not to the name again, leaves no room for DNS rebinding."""
    host = host.lower().strip("[]")
    shown = f"[{host}]" if ":" in host else host
    if f"{shown}:{port}" in allowed or f"{host}:{port}" in allowed:
        return None
    try:
        addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (OSError, UnicodeError):
        raise InvalidSpec(f"{field}: cannot resolve the host '{host}' of {what!r}") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if (
            ip.is_loopback
            or ip.is_private
            or ip.is_link_local
            or ip.is_reserved
            or ip.is_multicast
            or ip.is_unspecified
        ):
            raise InvalidSpec(
                f"{field}: {what!r} reaches {ip} ({_kind(ip)}), which remote data may not reach: kiln does not read "
                f"from its own machine or private networks unless the server's remote_private_hosts setting lists "
                f"'{shown}:{port}' (KILN_REMOTE_PRIVATE_HOSTS)"
            )
    return addresses[0]


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local, such as a cloud metadata service"
    return "a private or reserved address"


def check_local_folder(path: str, roots: Iterable[Path], home: Path, field: str) -> Path:
    """The folder, resolved; InvalidSpec naming ``field`` unless it lies inside an allowed root and apart from home."""
    roots = [Path(os.path.realpath(root)) for root in roots]
    if not roots:
        raise InvalidSpec(
            f"{field}: this server shares no local folders, so 'local' datastores are refused; its operator can list "
            "folders that may be shared in the setting local_datastore_roots (KILN_LOCAL_DATASTORE_ROOTS)"
        )
    given = Path(path)
    if "\0" in path or not given.is_absolute():
        raise InvalidSpec(f"{field}: {path!r} must be an absolute path on the server's machine")
    folder = Path(os.path.realpath(given))
    real_home = Path(os.path.realpath(home))
    if folder == real_home or folder.is_relative_to(real_home) or real_home.is_relative_to(folder):
        raise InvalidSpec(f"{field}: {path!r} is (or holds) the workspace's own home, which a datastore may not expose")
    if not any(folder == root or folder.is_relative_to(root) for root in roots):
        listed = ", ".join(str(root) for root in roots)
        raise InvalidSpec(f"{field}: {path!r} is outside the folders this server shares ({listed})")
    return folder


def inside(folder: Path, path: str, field: str) -> Path:
    """``folder/path`` resolved (symbolic links too), refused when it leaves ``folder``."""
    target = Path(os.path.realpath(folder / path))
    if not is_inside(folder, target):  # the artifact store's containment check (kiln.artifacts.references)
        raise InvalidSpec(f"{field}: {path!r} leaves its datastore's folder")
    return target
