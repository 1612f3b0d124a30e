"""Settings precedence: defaults < KILN_HOME/config.yaml < KILN_* variables < flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiln.config import Settings
from kiln.errors import InvalidSpec


def test_defaults_live_in_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILN_HOME", str(tmp_path))
    monkeypatch.delenv("KILN_LOCAL_CONCURRENCY", raising=False)
    settings = Settings.load()
    assert settings.resolved_home == tmp_path.resolve()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'kiln.db'}"
    assert settings.resolved_artifact_root == str(tmp_path.resolve() / "artifacts")
    assert settings.host == "127.0.0.1" and settings.port == 0
    assert settings.local_concurrency == 0  # unset: one job per core
    assert settings.resolved_local_concurrency == (os.cpu_count() or 1)


def test_config_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.yaml").write_text("port: 7001\nlocal_concurrency: 3\nartifact_root: /srv/file-root\n")
    monkeypatch.setenv("KILN_HOME", str(tmp_path))
    from_file = Settings.load()
    assert (from_file.port, from_file.local_concurrency, from_file.artifact_root) == (7001, 3, "/srv/file-root")
    monkeypatch.setenv("KILN_PORT", "7002")
    from_env = Settings.load()
    assert from_env.port == 7002 and from_env.local_concurrency == 3
    from_flag = Settings.load(port=7003, local_concurrency=None)
    assert from_flag.port == 7003 and from_flag.local_concurrency == 3


def test_home_given_as_a_flag_reads_that_homes_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KILN_HOME", raising=False)
    (tmp_path / "config.yaml").write_text("host: 127.0.0.2\n")
    assert Settings.load(home=tmp_path).host == "127.0.0.2"


def test_a_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("port: [8\n")
    with pytest.raises(InvalidSpec, match="config.yaml, line .*: malformed YAML"):
        Settings.load(home=tmp_path)
