"""Datastores: create, list, show, delete; and the store (with its credential) that a remote path names."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from pathlib import Path

from kiln.clock import utcnow
from kiln.datastores.guards import check_local_folder, check_url_host
from kiln.datastores.secrets import CredentialBox
from kiln.datastores.stores import EXTRAS, HttpStore, LocalFolderStore, Store, object_store
from kiln.errors import InvalidSpec, NotFound
from kiln.extras import check_extra
from kiln.specs.datastore import ALL_LOCATION_FIELDS, DatastoreSpec, DatastoreView
from kiln.specs.remote_paths import RemotePath
from kiln.store.datastores import DatastoreRepository
from kiln.store.tables import DatastoreRow


@dataclass
class DatastoreAccess:
    """What the operator allows: shared local folders, private HOST:PORTs; and where the workspace lives."""

    home: Path
    local_roots: tuple[Path, ...] = ()
    private_hosts: frozenset[str] = frozenset()


@dataclass
class DatastoreService:
    datastores: DatastoreRepository
    box: CredentialBox
    access: DatastoreAccess

    def create(self, spec: DatastoreSpec, created_by: str | None = None) -> DatastoreView:
        location = {name: str(value) for name in ALL_LOCATION_FIELDS if (value := getattr(spec, name))}
        self._check_location(spec.type, location, "datastore")
        if spec.type in EXTRAS:
            extra, module = EXTRAS[spec.type]
            check_extra(extra, (module,), needed_by=f"a {spec.type} datastore")
        kind = spec.credential_kind()
        credential = self.box.seal(spec.credentials.given()) if spec.credentials and kind else None
        row = DatastoreRow(
            name=spec.name, type=spec.type, location=location, credential_kind=kind, credential=credential,
            description=spec.description, tags={str(k): v for k, v in spec.tags.items()}, created_at=utcnow(),
            created_by=created_by,
        )  # fmt: skip
        self.datastores.add(row)
        return self._view(row)

    def _check_location(self, type_: str, location: dict[str, str], field: str) -> Path | None:
        if type_ == "local":
            return check_local_folder(location["path"], self.access.local_roots, self.access.home, f"{field}.path")
        for name in ("url", "endpoint_url"):
            if location.get(name):
                check_url_host(location[name], self.access.private_hosts, f"{field}.{name}")
        return None

    def list(self) -> builtins.list[DatastoreView]:
        return [self._view(row) for row in self.datastores.all()]

    def get(self, name: str) -> DatastoreView:
        return self._view(self.datastores.get(name))

    def delete(self, name: str) -> None:
        if not self.datastores.remove(name):
            self.datastores.get(name)  # NotFound naming what exists

    @staticmethod
    def _view(row: DatastoreRow) -> DatastoreView:
        return DatastoreView(
            name=row.name, type=row.type, description=row.description, tags=dict(row.tags or {}),
            location=dict(row.location or {}), credential=row.credential_kind, created_at=row.created_at,
            created_by=row.created_by,
        )  # fmt: skip

    # Reading remote paths ----------------------------------------------------------------------
    def store_for(self, remote: RemotePath, field: str) -> tuple[Store, str]:
        """The store that reads ``remote`` and the path inside it; InvalidSpec naming ``field`` when none can."""
        if remote.datastore is not None:
            try:
                row = self.datastores.get(remote.datastore)
            except NotFound as exc:
                raise InvalidSpec(f"{field}: {exc.message}") from None
            return self._open(row, field), remote.path
        if remote.type == "https":
            return HttpStore("", self.access.private_hosts, remote.url), remote.path
        row = self._matching(remote, field)
        return self._open(row, field), remote.path

    def _matching(self, remote: RemotePath, field: str) -> DatastoreRow:
        for row in self.datastores.all():
            location = row.location or {}
            if row.type != remote.type:
                continue
            if remote.bucket is not None and location.get("bucket") == remote.bucket:
                return row
            container = location.get("container_name") or location.get("filesystem")
            if remote.account_name is not None and (location.get("account_name"), container) == (
                remote.account_name,
                remote.container,
            ):
                return row
        where = (
            f"bucket '{remote.bucket}'" if remote.bucket else f"'{remote.container}' of account '{remote.account_name}'"
        )
        fields = f"--bucket {remote.bucket}" if remote.bucket else (
            f"--account-name {remote.account_name} --container-name {remote.container}" if remote.type == "azure_blob"
            else f"--account-name {remote.account_name} --filesystem {remote.container}"
        )  # fmt: skip
        raise InvalidSpec(
            f"{field}: no datastore reads the {remote.type} {where}; kiln reads remote stores only with a "
            f"datastore's credential: kiln datastore create --name NAME --type {remote.type} {fields} …"
        )

    def _open(self, row: DatastoreRow, field: str) -> Store:
        location = dict(row.location or {})
        label = f"datastore '{row.name}'"
        folder = self._check_location(row.type, location, f"{field} (datastore '{row.name}')")
        if folder is not None:
            return LocalFolderStore(folder, label)
        if row.type == "https":
            return HttpStore(location["url"], self.access.private_hosts, label)
        credential = self.box.open(row.credential, row.name) if row.credential else {}
        return object_store(row.type, location, credential, label)
