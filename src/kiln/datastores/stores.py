"""A datastore as something to read: ``kind`` (file or folder) of a path, and its download.

Object stores and local folders go through fsspec (``s3fs``, ``adlfs``, ``gcsfs`` from kiln's extras
``s3``, ``azure``, ``gcs``; a missing one is MissingExtra with its pip line). ``https`` is httpx: one
file per URL, redirects followed by kiln itself so that each hop is checked (``guards.check_url_host``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from kiln.datastores.guards import check_url_host, checked_address, inside
from kiln.errors import InvalidSpec, Unavailable
from kiln.extras import require_extra

Kind = Literal["file", "folder"]
EXTRAS = {
    "s3": ("s3", "s3fs"),
    "azure_blob": ("azure", "adlfs"),
    "azure_data_lake_gen2": ("azure", "adlfs"),
    "gcs": ("gcs", "gcsfs"),
}
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Store(Protocol):
    def kind(self, path: str, field: str) -> Kind:
        """Whether ``path`` is a file or a folder; InvalidSpec naming ``field`` when it is neither."""
        ...

    def download(self, path: str, target: Path, field: str) -> Path:
        """Copy ``path`` into the folder ``target``; the file (``target/NAME``) or ``target`` itself."""
        ...


def file_name(path: str) -> str:
    return PurePosixPath(urlsplit(path).path).name or "download"


@dataclass
class FsspecStore:
    fs: Any
    root: str  # bucket, container, or local folder
    label: str  # how errors name the store

    def _full(self, path: str) -> str:
        return f"{self.root}/{path}".rstrip("/") if path else self.root

    def kind(self, path: str, field: str) -> Kind:
        full = self._full(path)
        try:
            if self.fs.isfile(full):
                return "file"
            if self.fs.isdir(full):
                return "folder"
        except InvalidSpec:
            raise
        except Exception as exc:  # each library has its own errors (botocore, azure-core, google-auth…)
            raise Unavailable(f"{field}: cannot read {path or '/'} in {self.label}: {_reason(exc)}") from None
        raise InvalidSpec(f"{field}: {path or '/'} not found in {self.label}")

    def download(self, path: str, target: Path, field: str) -> Path:
        full = self._full(path)
        try:
            if self.fs.isfile(full):
                local = target / file_name(full)
                self.fs.get_file(full, str(local))
                return local
            for remote in self.fs.find(full):
                rel = remote[len(full) :].lstrip("/")
                local = target / rel
                local.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote, str(local))
            return target
        except Exception as exc:
            raise Unavailable(f"{field}: cannot read {path or '/'} in {self.label}: {_reason(exc)}") from None


@dataclass
class LocalFolderStore:
    folder: Path  # checked against the allowed roots when the store is opened
    label: str

    def kind(self, path: str, field: str) -> Kind:
        local = inside(self.folder, path, field)
        if local.is_file():
            return "file"
        if local.is_dir():
            return "folder"
        raise InvalidSpec(f"{field}: {path or '/'} not found in {self.label}")

    def download(self, path: str, target: Path, field: str) -> Path:
        local = inside(self.folder, path, field)
        if local.is_file():
            copy = target / local.name
            shutil.copyfile(local, copy)
            return copy
        for file in sorted(local.rglob("*")):
            source = inside(self.folder, file.relative_to(self.folder).as_posix(), field)  # no link leads out
            if source.is_file():
                copy = target / file.relative_to(local)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, copy)
        return target


@dataclass
class HttpStore:
    """Files over http(s): ``base`` and a path (a datastore), or a whole URL (``base`` empty)."""

    base: str
    allowed_private: frozenset[str]
    label: str

    def _url(self, path: str) -> str:
        return f"{self.base.rstrip('/')}/{path}" if self.base else path

    def kind(self, path: str, field: str) -> Kind:
        with self._get(self._url(path), field):
            return "file"

    def download(self, path: str, target: Path, field: str) -> Path:
        local = target / file_name(self._url(path))
        with self._get(self._url(path), field) as response, local.open("wb") as handle:
            try:
                for chunk in response.iter_bytes(1 << 20):
                    handle.write(chunk)
            except httpx.HTTPError as exc:
                raise Unavailable(f"{field}: reading {self._url(path)} failed: {_reason(exc)}") from None
        return local

    def _get(self, url: str, field: str) -> _Response:
        transport = httpx.HTTPTransport(trust_env=False)
        # every connection goes to an address checked when it is made (redirects too; no DNS rebinding)
        transport._pool = httpcore.ConnectionPool(
            ssl_context=transport._pool._ssl_context, network_backend=_CheckedBackend(self.allowed_private, field)
        )
        client = httpx.Client(transport=transport, timeout=TIMEOUT, follow_redirects=False, trust_env=False)
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                if urlsplit(url).scheme not in ("http", "https"):
                    raise InvalidSpec(f"{field}: a redirect leads to {url!r}, which is not http(s)")
                check_url_host(url, self.allowed_private, field)
                response = client.send(client.build_request("GET", url), stream=True)
                if response.is_redirect and "location" in response.headers:
                    response.close()
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    response.close()
                    raise InvalidSpec(f"{field}: {url} answered HTTP {response.status_code}, not the file")
                return _Response(client, response)
            raise InvalidSpec(f"{field}: {url} redirects more than {MAX_REDIRECTS} times")
        except httpx.HTTPError as exc:
            client.close()
            raise InvalidSpec(f"{field}: cannot reach {url}: {_reason(exc)}") from None
        except BaseException:
            client.close()
            raise


class _CheckedBackend(httpcore.SyncBackend):
    def __init__(self, allowed: frozenset[str], field: str) -> None:
        self._allowed, self._field = allowed, field

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:  # fmt: skip
        address = checked_address(host, port, self._allowed, self._field, f"{host}:{port}")
        return super().connect_tcp(address or host, port, timeout, local_address, socket_options)


class _Response:
    def __init__(self, client: httpx.Client, response: httpx.Response) -> None:
        self.client, self.response = client, response

    def __enter__(self) -> httpx.Response:
        return self.response

    def __exit__(self, *_exc: object) -> None:
        self.response.close()
        self.client.close()


def object_store(type_: str, location: dict[str, str], credential: dict[str, str], label: str) -> FsspecStore:
    """An fsspec file system for an object-store datastore, with its credential."""
    extra, module = EXTRAS[type_]
    library = require_extra(extra, module, needed_by=f"a {type_} datastore")
    if type_ == "s3":
        options: dict[str, Any] = {}
        if location.get("endpoint_url"):
            options["endpoint_url"] = location["endpoint_url"]
        if location.get("region"):
            options["region_name"] = location["region"]
        if credential:
            fs = library.S3FileSystem(
                key=credential["access_key_id"], secret=credential["secret_access_key"], client_kwargs=options
            )
        else:
            fs = library.S3FileSystem(anon=True, client_kwargs=options)
        return FsspecStore(fs, location["bucket"], label)
    if type_ == "gcs":
        import json

        token = json.loads(credential["service_account_json"]) if credential else "anon"
        return FsspecStore(library.GCSFileSystem(token=token), location["bucket"], label)
    azure: dict[str, Any] = {"account_name": location["account_name"], "anon": not credential}
    if location.get("endpoint"):
        azure["account_host"] = f"{location['account_name']}.blob.{location['endpoint']}"
    azure.update(credential)
    container = location.get("container_name") or location["filesystem"]
    return FsspecStore(library.AzureBlobFileSystem(**azure), container, label)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
