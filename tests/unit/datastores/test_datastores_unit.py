"""Remote paths, datastore specs, the host and folder guards and sealed credentials, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kiln.datastores.guards import check_local_folder, check_url_host
from kiln.datastores.secrets import CredentialBox
from kiln.errors import InvalidSpec
from kiln.specs.datastore import DatastoreSpec
from kiln.specs.remote_paths import is_remote_path, parse_remote_path


@pytest.mark.parametrize(
    ("text", "type_", "path", "extra"),
    [
        ("azureml://datastores/lake/paths/a/b.csv", "", "a/b.csv", {"datastore": "lake"}),
        (
            "azureml://subscriptions/s/resourcegroups/g/workspaces/w/datastores/lake/paths/x/",
            "", "x", {"datastore": "lake"},
        ),
        ("s3://bucket/k/v.csv", "s3", "k/v.csv", {"bucket": "bucket"}),
        ("azureml://datastores/lake/paths/my%20folder/x.csv", "", "my folder/x.csv", {"datastore": "lake"}),
        ("gs://bucket/k", "gcs", "k", {"bucket": "bucket"}),
        ("wasbs://data@acct.blob.core.windows.net/f.csv", "azure_blob", "f.csv", {"account_name": "acct", "container": "data"}),
        ("abfss://fs@acct.dfs.core.windows.net/d", "azure_data_lake_gen2", "d", {"account_name": "acct", "container": "fs"}),
        ("https://example.org/a.csv", "https", "https://example.org/a.csv", {}),
    ],
)  # fmt: skip
def test_remote_paths_are_parsed(text: str, type_: str, path: str, extra: dict[str, str]) -> None:
    assert is_remote_path(text)
    remote = parse_remote_path(text, "inputs.x.path")
    assert (remote.type, remote.path) == (type_, path)
    assert all(getattr(remote, key) == value for key, value in extra.items())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("azureml://datastores/lake/paths/../etc", "'.' or '..' segment"),
        ("azureml://datastores/lake/paths/%2e%2e/etc", "'.' or '..' segment"),
        ("s3://bucket/a/%00", "NUL byte"),
        ("https://example.org/a b", "spaces or control characters"),
        ("wasbs://nohost/x", "not an Azure storage URL"),
        ("https://a.blob.core.windows.net/c/x?sv=1&sig=s3cr3t", "carries a credential"),
        ("https://user:pw@example.org/x", "carries a credential"),
    ],
)
def test_bad_remote_paths_name_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message) as caught:
        parse_remote_path(text, "inputs.x.path")
    assert caught.value.message.startswith("inputs.x.path: ")
    assert "s3cr3t" not in caught.value.message


def test_local_paths_and_asset_references_are_not_remote() -> None:
    assert not any(map(is_remote_path, ["./data", "/abs/x", "kiln:iris:1", "azureml:iris@latest", None, ""]))


def test_a_spec_takes_the_fields_and_credentials_of_its_type() -> None:
    spec = DatastoreSpec(
        name="b", type="azure_blob", account_name="acct", container_name="data", credentials={"sas_token": "t"}
    )
    assert spec.credential_kind() == "sas_token"
    with pytest.raises(ValidationError, match="needs 'container_name'"):
        DatastoreSpec(name="b", type="azure_blob", account_name="acct")
    with pytest.raises(ValidationError, match="'bucket' is not a field of a local datastore"):
        DatastoreSpec(name="b", type="local", path="/x", bucket="bucket")
    with pytest.raises(ValidationError, match="takes one of these credentials"):
        DatastoreSpec(name="b", type="s3", bucket="bucket", credentials={"access_key_id": "only half"})


def test_hosts_on_loopback_private_and_link_local_networks_are_refused_unless_listed() -> None:
    for url in ("http://127.0.0.1:5000/x", "http://10.0.0.1/x", "http://169.254.169.254/latest", "http://[::1]/"):
        with pytest.raises(InvalidSpec, match="which remote data may not reach"):
            check_url_host(url, frozenset(), "f")
    check_url_host("http://127.0.0.1:5000/x", frozenset({"127.0.0.1:5000"}), "f")
    with pytest.raises(InvalidSpec, match="may not reach"):
        check_url_host("http://127.0.0.1:5001/x", frozenset({"127.0.0.1:5000"}), "f")  # another port is not listed


def test_local_folders_stay_inside_shared_roots_and_away_from_home(tmp_path: Path) -> None:
    home, shared = tmp_path / "home", tmp_path / "shared"
    (shared / "data").mkdir(parents=True)
    home.mkdir()
    (shared / "link").symlink_to(home)
    assert check_local_folder(str(shared / "data"), [shared], home, "f") == (shared / "data").resolve()
    with pytest.raises(InvalidSpec, match="shares no local folders"):
        check_local_folder(str(shared), [], home, "f")
    for path in (home, tmp_path, shared / "link"):
        with pytest.raises(InvalidSpec, match="workspace's own home"):
            check_local_folder(str(path), [tmp_path], home, "f")
    with pytest.raises(InvalidSpec, match="outside the folders"):
        check_local_folder("/etc", [shared], home, "f")


def test_credentials_are_sealed_with_a_private_key(tmp_path: Path) -> None:
    box = CredentialBox(tmp_path / "datastore.key")
    sealed = box.seal({"account_key": "very-secret"})
    assert "very-secret" not in sealed
    assert oct((tmp_path / "datastore.key").stat().st_mode & 0o777) == "0o600"
    assert CredentialBox(tmp_path / "datastore.key").open(sealed, "d") == {"account_key": "very-secret"}
    with pytest.raises(Exception, match="sealed with another key"):
        CredentialBox(tmp_path / "other.key").open(sealed, "d")


def test_each_connection_is_checked_where_it_is_made_so_a_name_cannot_rebind_to_loopback() -> None:
    """The https reader's network backend checks the address it connects to (a redirect's too), not only the URL."""
    from kiln.datastores.stores import _CheckedBackend

    with pytest.raises(InvalidSpec, match="\\(loopback\\), which remote data may not reach"):
        _CheckedBackend(frozenset(), "inputs.x.path").connect_tcp("localhost", 9)
