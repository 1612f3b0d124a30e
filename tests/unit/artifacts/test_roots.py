"""Where the artifact store lives: the S3 endpoint's precedence, what MLflow is given, bad roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.artifacts.roots import ArtifactRoot
from kiln.config import Settings
from kiln.errors import InvalidSpec


def test_a_local_root_needs_no_endpoint(tmp_path: Path) -> None:
    root = ArtifactRoot.from_settings(Settings(home=tmp_path), environ={"AWS_ENDPOINT_URL": "http://ignored"})
    assert root.url == str(tmp_path.resolve() / "artifacts") and not root.is_s3
    assert root.storage_options() == {} and root.mlflow_environment() == {}
    store = root.open()
    assert store.is_local and (tmp_path / "artifacts").is_dir()


def test_the_s3_endpoint_comes_from_the_setting_then_the_standard_variables(tmp_path: Path) -> None:
    environ = {"AWS_ENDPOINT_URL": "http://general:9000", "AWS_ENDPOINT_URL_S3": "http://s3-only:9000"}
    settings = Settings(home=tmp_path, artifact_root="s3://bucket/team/")
    from_s3_variable = ArtifactRoot.from_settings(settings, environ)
    assert (from_s3_variable.url, from_s3_variable.bucket) == ("s3://bucket/team", "bucket")
    assert from_s3_variable.endpoint_url == "http://s3-only:9000"
    assert from_s3_variable.describe_endpoint() == "the S3 endpoint http://s3-only:9000 (from AWS_ENDPOINT_URL_S3)"
    general = ArtifactRoot.from_settings(settings, {"AWS_ENDPOINT_URL": "http://general:9000"})
    assert general.endpoint_url == "http://general:9000"
    configured = Settings(home=tmp_path, artifact_root="s3://bucket/team", s3_endpoint_url="http://u:p@minio:9000")
    root = ArtifactRoot.from_settings(configured, environ)
    assert root.endpoint_url == "http://u:p@minio:9000"
    assert root.storage_options() == {"use_listings_cache": False, "endpoint_url": "http://u:p@minio:9000"}
    assert root.mlflow_environment() == {"MLFLOW_S3_ENDPOINT_URL": "http://u:p@minio:9000"}
    assert root.describe_endpoint() == "the S3 endpoint http://***@minio:9000 (from the s3_endpoint_url setting)"
    aws = ArtifactRoot.from_settings(settings, {})
    assert aws.endpoint_url is None and aws.mlflow_environment() == {}
    assert aws.describe_endpoint() == "AWS S3 (no endpoint is set)"


def test_the_endpoint_setting_reads_the_config_file_and_kiln_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.yaml").write_text("artifact_root: s3://b/p\ns3_endpoint_url: http://from-file:9000\n")
    monkeypatch.setenv("KILN_HOME", str(tmp_path))
    assert Settings.load().s3_endpoint_url == "http://from-file:9000"
    monkeypatch.setenv("KILN_S3_ENDPOINT_URL", "http://from-env:9000")
    assert Settings.load().s3_endpoint_url == "http://from-env:9000"
    assert Settings.load(s3_endpoint_url="http://from-flag:9000").s3_endpoint_url == "http://from-flag:9000"


def test_a_root_that_names_no_bucket_or_no_known_protocol_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match=r"artifact_root \(--artifact-root.*'s3://' names no bucket"):
        ArtifactRoot.from_settings(Settings(home=tmp_path, artifact_root="s3://"))
    with pytest.raises(InvalidSpec, match="artifact_root .*cannot open nosuchproto://x"):
        ArtifactRoot.from_settings(Settings(home=tmp_path, artifact_root="nosuchproto://x")).open()
