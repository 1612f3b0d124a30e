"""The user's pip configuration, handed to uv explicitly (uv does not read pip's files).

Teams behind a private index set ``index-url`` / ``extra-index-url`` / ``find-links`` in
pip's config files or ``PIP_*`` variables; builds must see the same packages pip would.
``pip config list`` gives the merged files and variables; ``PIP_*`` variables of this
process are read directly too (they win), so the mapping works even where pip is absent.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# pip's option name → what it means for a build
INDEX_OPTIONS = ("index-url", "extra-index-url", "find-links", "no-index", "constraint", "cert")
# pip reads sections in this order; a later one wins (':env:' holds the PIP_* variables)
SECTION_PRIORITY = ("global", "install", ":env:")
TRUE_WORDS = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class IndexSettings:
    """Where packages come from. Part of an environment's hash: another index may give other files."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    constraints: tuple[str, ...] = ()
    cert: str | None = None

    def uv_arguments(self) -> list[str]:
        """Flags for ``uv pip install``. pip considers every index at once; so must uv."""
        args = ["--index-strategy", "unsafe-best-match"]
        if self.no_index:
            args.append("--no-index")
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        for constraint in self.constraints:
            if os.path.isfile(constraint):
                args += ["--constraint", constraint]
        return args

    def uv_environment(self) -> dict[str, str]:
        return {"SSL_CERT_FILE": self.cert} if self.cert else {}

    def fingerprint(self) -> dict[str, Any]:
        """What goes into the environment hash (constraint files by content: editing one rebuilds)."""
        return {
            "index_url": self.index_url,
            "extra_index_urls": list(self.extra_index_urls),
            "find_links": list(self.find_links),
            "no_index": self.no_index,
            "constraints": [_read(path) for path in self.constraints],
        }

    def describe(self) -> str:
        parts = [f"index-url {self.index_url or 'https://pypi.org/simple (uv default)'}"]
        if self.no_index:
            parts = ["no index"]
        parts += [f"extra-index-url {url}" for url in self.extra_index_urls]
        parts += [f"find-links {link}" for link in self.find_links]
        parts += [f"constraint {path}" for path in self.constraints]
        return "; ".join(parts)


def index_settings_from(config: Mapping[str, str], environ: Mapping[str, str]) -> IndexSettings:
    """Combine ``pip config list`` entries (``section.option`` → value) and ``PIP_*`` variables."""
    chosen: dict[str, str] = {}
    for section in SECTION_PRIORITY:
        for key, value in config.items():
            sect, _, option = key.rpartition(".")
            if sect == section and option in INDEX_OPTIONS:
                chosen[option] = value
    for option in INDEX_OPTIONS:
        variable = "PIP_" + option.upper().replace("-", "_")
        if environ.get(variable):
            chosen[option] = environ[variable]
    return IndexSettings(
        index_url=chosen.get("index-url") or None,
        extra_index_urls=tuple(chosen.get("extra-index-url", "").split()),
        find_links=tuple(chosen.get("find-links", "").split()),
        no_index=chosen.get("no-index", "").strip().lower() in TRUE_WORDS,
        constraints=tuple(chosen.get("constraint", "").split()),
        cert=chosen.get("cert") or None,
    )


def parse_pip_config_list(output: str) -> dict[str, str]:
    """``global.find-links='/opt/wheels'`` lines → {'global.find-links': '/opt/wheels'}."""
    entries: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, raw = line.partition("=")
        if not sep:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        entries[key.strip()] = str(value)
    return entries


def read_index_settings(python: str = sys.executable, environ: Mapping[str, str] | None = None) -> IndexSettings:
    """The pip configuration that ``python -m pip`` would use, plus this process's ``PIP_*`` variables."""
    env = os.environ if environ is None else environ
    try:
        listed = subprocess.run(
            [python, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, env=dict(env)
        )
        output = listed.stdout if listed.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        output = ""
    return index_settings_from(parse_pip_config_list(output), env)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""
