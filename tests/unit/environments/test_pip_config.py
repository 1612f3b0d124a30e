"""pip's configuration, mapped to uv's flags: what teams behind a private index rely on."""

from __future__ import annotations

import sys
from pathlib import Path

from kiln.environments.pip_config import IndexSettings, index_settings_from, parse_pip_config_list, read_index_settings


def test_pip_config_list_output_is_parsed() -> None:
    output = (
        "global.extra-index-url='file:///a/simple file:///b/simple'\n"
        "global.find-links='/opt/wheels'\n"
        ":env:.default-timeout='180'\n"
    )
    assert parse_pip_config_list(output) == {
        "global.extra-index-url": "file:///a/simple file:///b/simple",
        "global.find-links": "/opt/wheels",
        ":env:.default-timeout": "180",
    }


def test_install_section_beats_global_and_variables_beat_files() -> None:
    config = {
        "global.index-url": "https://global/simple",
        "install.index-url": "https://install/simple",
        "global.extra-index-url": "https://x/simple https://y/simple",
        "global.find-links": "/opt/wheels",
        "global.timeout": "60",
    }
    settings = index_settings_from(config, {"PIP_FIND_LINKS": "/mine /theirs"})
    assert settings == IndexSettings(
        index_url="https://install/simple",
        extra_index_urls=("https://x/simple", "https://y/simple"),
        find_links=("/mine", "/theirs"),
    )
    assert settings.uv_arguments() == [
        "--index-strategy", "unsafe-best-match",
        "--index-url", "https://install/simple",
        "--extra-index-url", "https://x/simple", "--extra-index-url", "https://y/simple",
        "--find-links", "/mine", "--find-links", "/theirs",
    ]  # fmt: skip
    assert index_settings_from({}, {"PIP_NO_INDEX": "1"}).uv_arguments()[-1] == "--no-index"


def test_the_real_pip_config_files_and_variables_are_read(tmp_path: Path) -> None:
    """Through ``python -m pip config list``, with a config file named by PIP_CONFIG_FILE."""
    constraint = tmp_path / "constraints.txt"
    constraint.write_text("torch<=2.14.1\n")
    config = tmp_path / "pip.conf"
    config.write_text(
        f"[global]\nindex-url = https://private.example/simple\nfind-links = /srv/wheels\nconstraint = {constraint}\n"
        "[install]\nextra-index-url = https://extra.example/simple\n"
    )
    environ = {"PIP_CONFIG_FILE": str(config), "PIP_EXTRA_INDEX_URL": "https://from-env/simple", "PATH": "/usr/bin"}
    settings = read_index_settings(sys.executable, environ)
    assert settings.index_url == "https://private.example/simple"
    assert settings.extra_index_urls == ("https://from-env/simple",)
    assert settings.find_links == ("/srv/wheels",)
    assert settings.constraints == (str(constraint),)
    assert ["--constraint", str(constraint)] == settings.uv_arguments()[-2:]
    # the constraint file's content is part of the hash: editing it rebuilds
    before = settings.fingerprint()
    constraint.write_text("torch<=2.13.0\n")
    assert settings.fingerprint() != before
