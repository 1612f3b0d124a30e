"""The README's example commands, as a test reads them: every indented line that starts with ``kiln``,
cut at ``;`` into commands, its ``# comment`` dropped. ``tests/unit/test_readme.py`` parses each one
with the CLI's own parser; ``tests/integration/examples/test_readme.py`` runs sections of them."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass(frozen=True)
class ReadmeCommand:
    line: int  # in README.md
    section: str  # the ### heading above it
    args: tuple[str, ...]  # after "kiln"

    def __str__(self) -> str:
        return f"README.md:{self.line}: kiln {shlex.join(self.args)}"

    def as_usage(self) -> tuple[str, ...]:
        """The arguments with the README's shorthand for choices resolved: ``[-v V]`` is given, ``JOB...``
        is dropped, ``a|b|c`` is its first choice."""
        usage = []
        for arg in self.args:
            arg = arg.strip("[]")
            if arg.endswith("...") or not arg:
                continue
            usage.append(arg.split("|")[0] if "|" in arg and "=" not in arg and " " not in arg else arg)
        return tuple(usage)


def readme_commands() -> list[ReadmeCommand]:
    commands, section = [], ""
    for number, text in enumerate(README.read_text().splitlines(), start=1):
        if text.startswith("#"):
            section = text.lstrip("#").strip()
        if not text.startswith("    kiln "):
            continue
        words: list[str] = []
        for word in [*shlex.split(text, comments=True), ";"]:
            if word != ";":
                words.append(word)
            elif words:
                assert words[0] == "kiln", f"README.md:{number}: '{text.strip()}' mixes kiln with other commands"
                commands.append(ReadmeCommand(number, section, tuple(words[1:])))
                words = []
    return commands


def section_commands(section: str) -> list[ReadmeCommand]:
    found = [command for command in readme_commands() if command.section == section]
    assert found, f"README.md has no kiln commands under '### {section}'"
    return found
