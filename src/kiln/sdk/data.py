"""``Client().data``: create immutable data asset versions from local files, list, download, archive, load."""

from __future__ import annotations

import builtins
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from kiln import api, mltable
from kiln.api.operation import Operation
from kiln.errors import InvalidSpec, KilnError
from kiln.sdk.rest import RestClient
from kiln.sdk.stream_reader import StreamReader
from kiln.sdk.uploads import upload_path
from kiln.specs.data import LATEST, DataAssetView, DataSpec
from kiln.specs.html_tables import Listing
from kiln.specs.job import UPLOAD_PREFIX
from kiln.specs.remote_paths import is_remote_path
from kiln.specs.yaml_source import YamlSource, explain_validation_error, read_yaml_file

if TYPE_CHECKING:
    import pandas as pd

DataLike = str | Path | DataSpec | dict[str, Any]
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}


class DataOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(
        self,
        spec: DataLike | None = None,
        *,
        name: str | None = None,
        version: str | int | None = None,
        type: str | None = None,  # noqa: A002 - the Azure ML field name
        path: str | Path | None = None,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> DataAssetView:
        """Create a version from a data YAML file, a dict or a ``DataSpec``, and/or these fields
        (which win over the file's). The local path is uploaded; the same content again is a no-op."""
        given = {"name": name, "version": version, "type": type, "path": path, "description": description}
        fields: dict[str, Any] = {k: (str(v) if k == "path" else v) for k, v in given.items() if v is not None}
        if tags is not None:
            fields["tags"] = tags
        body = prepare_data(self._rest, spec, fields)
        return self._rest.call(api.data.CREATE, json=body)

    def get(self, name: str, version: str | int | None = None) -> DataAssetView:
        """One version; ``None`` or ``"latest"`` is the newest version that is not archived."""
        return self._rest.call(api.data.SHOW, name=name, version=version or LATEST)

    def list(self, name: str | None = None, include_archived: bool = False) -> builtins.list[DataAssetView]:
        """The latest version of every asset, or every version of ``name`` (newest first)."""
        params: dict[str, Any] = {"include_archived": include_archived}
        if name:
            params["name"] = name
        return Listing(self._rest.call(api.data.LIST, params=params))

    def download(self, name: str, version: str | int | None = None, download_path: str | Path = ".") -> Path:
        """Write the version's files into ``download_path/<name>`` and return that path."""
        target = Path(download_path)
        with self._rest.stream(api.data.CONTENT, name=name, version=version or LATEST) as response:
            with tarfile.open(fileobj=StreamReader(response.iter_bytes()), mode="r|") as tar:
                tar.extractall(target, filter="data")
        return target / name

    def archive(self, name: str, version: str | int | None = None) -> builtins.list[DataAssetView]:
        """Hide a version (or every version) from listings and ``@latest``; explicit references still work."""
        return self._set_archived(api.data.ARCHIVE, name, version)

    def restore(self, name: str, version: str | int | None = None) -> builtins.list[DataAssetView]:
        return self._set_archived(api.data.RESTORE, name, version)

    def _set_archived(
        self, operation: Operation[builtins.list[DataAssetView]], name: str, version: str | int | None
    ) -> builtins.list[DataAssetView]:
        params = {"version": str(version)} if version is not None else {}
        return self._rest.call(operation, name=name, params=params)

    def load_dataframe(self, name: str, version: str | int | None = None) -> pd.DataFrame:
        """An ``mltable`` version (or a ``uri_file`` .csv/.tsv/.parquet) as a pandas DataFrame."""
        view = self.get(name, version)
        with tempfile.TemporaryDirectory(prefix="kiln-data-") as tmp:
            folder = self.download(view.name, view.version, tmp)
            if view.type == "mltable":
                return mltable.load(folder)
            files = [p for p in folder.rglob("*") if p.is_file()]
            if view.type == "uri_file" and files:
                return _read_table(files[0])
        raise KilnError(
            f"data asset {view.name}:{view.version} is a {view.type}; load_dataframe reads an mltable, "
            "or a uri_file ending in .csv, .tsv or .parquet (download() gives you the files)"
        )


def _read_table(file: Path) -> pd.DataFrame:
    import pandas as pd

    if file.suffix in TABLE_SUFFIXES:
        return pd.read_csv(file, sep=TABLE_SUFFIXES[file.suffix])
    if file.suffix == ".parquet":
        return pd.read_parquet(file)
    raise KilnError(f"{file.name}: load_dataframe reads .csv, .tsv and .parquet files; use download() for others")


# Turning what the user gave into a REST body ------------------------------------------------
def prepare_data(rest: RestClient, spec: DataLike | None, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate the spec, check and upload the local path, and return the REST body."""
    source, base_dir = _source_of(spec)
    if not isinstance(source.data, dict):
        raise InvalidSpec(f"{source.label}: expected a mapping of fields at the top level")
    source.data.update(fields)
    try:
        data = DataSpec.model_validate(source.data)
    except ValidationError as exc:
        raise explain_validation_error(exc, source) from None
    body = data.model_dump(mode="json", by_alias=True, exclude_none=True)
    if data.privacy is not None and isinstance(data.privacy.metadata, str):  # a YAML file beside the spec: inline
        where = f"{source.where(('privacy', 'metadata'))}: privacy.metadata"
        body["privacy"]["metadata"] = _metadata_file(data.privacy.metadata, where, base_dir)
    if not data.path.startswith(UPLOAD_PREFIX) and not is_remote_path(data.path):
        from_flags = "path" in fields
        where = "path" if from_flags else f"{source.where(('path',))}: path"
        body["path"] = upload_path(rest, _checked_local_path(data, where, None if from_flags else base_dir))
    return body


def _metadata_file(path: str, where: str, base_dir: Path | None) -> dict[str, Any]:
    """A private version's SmartNoise table metadata, read from its YAML file (sent inline)."""
    local = (base_dir or Path.cwd()) / path
    if not local.is_file():
        raise InvalidSpec(f"{where}: '{path}' not found (looked for {local.resolve()})")
    metadata = read_yaml_file(local).data
    if not isinstance(metadata, dict):
        raise InvalidSpec(f"{where}: {local} holds no mapping of columns and table options")
    return metadata


def _checked_local_path(data: DataSpec, where: str, base_dir: Path | None) -> Path:
    if "://" in data.path or data.path.startswith(("kiln:", "azureml:")):
        raise InvalidSpec(f"{where}: '{data.path}' is not a local file or folder; kiln copies a data asset's content")
    local = (base_dir or Path.cwd()) / data.path
    if not local.exists():
        raise InvalidSpec(f"{where}: '{data.path}' not found (looked for {local.resolve()})")
    if data.type == "uri_file" and not local.is_file():
        raise InvalidSpec(f"{where}: a uri_file data asset needs a file, and '{data.path}' is a folder")
    if data.type != "uri_file" and not local.is_dir():
        raise InvalidSpec(f"{where}: a {data.type} data asset needs a folder, and '{data.path}' is a file")
    if data.type == "mltable":
        mltable.parse(local)  # fail before uploading; the server checks again
    return local


def _source_of(spec: DataLike | None) -> tuple[YamlSource, Path | None]:
    if spec is None:
        return YamlSource({}), None
    if isinstance(spec, DataSpec):
        return YamlSource(spec.model_dump(by_alias=True, exclude_none=True)), None
    if isinstance(spec, dict):
        return YamlSource(dict(spec)), None
    return read_yaml_file(spec), Path(spec).parent
