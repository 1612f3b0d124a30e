"""Which kiln package may import which: the rules of docs/architecture.md, read from the code's own imports.

Every ``import`` and ``from … import`` in ``src/kiln`` counts, wherever it stands (inside a
function or under ``TYPE_CHECKING`` too): a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    """Modules under ``source`` must not import modules under any of ``forbidden`` (dotted prefixes),
    except those under ``allowed`` (narrower prefixes that the rule lets through)."""

    source: str
    forbidden: tuple[str, ...]
    why: str
    allowed: tuple[str, ...] = ()

    def applies_to(self, module: str) -> bool:
        return _under(module, self.source)

    def refuses(self, imported: str) -> bool:
        if any(_under(imported, prefix) for prefix in self.allowed):
            return False
        return any(_under(imported, prefix) for prefix in self.forbidden)


@dataclass(frozen=True)
class Violation:
    rule: Rule
    module: str
    imported: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.imported} ({self.rule.why})"


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def module_name(path: Path, root: Path) -> str:
    """``src/kiln/jobs/engine.py`` under root ``src`` → ``kiln.jobs.engine``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """Every module ``path`` imports, absolute, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node.lineno
            for alias in node.names:  # `from kiln import server` imports kiln.server
                yield f"{base}.{alias.name}", node.lineno


def violations(root: Path, rules: list[Rule]) -> list[Violation]:
    """The imports under ``root`` (a folder holding the ``kiln`` package) that break ``rules``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        applicable = [rule for rule in rules if rule.applies_to(module)]
        if not applicable:
            continue
        for imported, line in imports_of(path, module):
            for rule in applicable:
                if rule.refuses(imported):
                    found.append(Violation(rule, module, imported, path, line))
    return found
