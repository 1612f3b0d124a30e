"""A build context's ``requirements.txt``: the model's environment, then kiln's serving stack, every line pinned.

kiln installs from its own wheel with ``--no-deps`` (it is not on PyPI), so this file carries everything
kiln needs: the closure of kiln's core dependencies at the versions installed beside the workspace server
(the versions kiln was run with), read from the installed packages' metadata. The model's requirements
(its MLflow folder's ``requirements.txt``, and a deployment environment's package list) come on top: an
exact pin of the model's wins over the installed version (the model must load as it was saved), a
range or a bare name is pinned at the installed version when that satisfies it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from kiln.errors import InvalidSpec, KilnError

KILN = "kiln"


@dataclass
class PinnedRequirements:
    lines: dict[str, str] = field(default_factory=dict)  # canonical name → requirement line
    notes: list[str] = field(default_factory=list)  # what differs from the installed versions, and why

    def text(self, header: str) -> str:
        comments = [f"# {line}" for line in (*header.splitlines(), *self.notes)]
        return "\n".join([*comments, *(self.lines[name] for name in sorted(self.lines))]) + "\n"


def serving_stack() -> dict[str, str]:
    """kiln's core dependencies and theirs, as ``name==version`` of what is installed here, by canonical name."""
    try:
        kiln = metadata.distribution(KILN)
    except metadata.PackageNotFoundError:
        raise KilnError(
            "kiln's package metadata is not installed in the server's Python, so its serving stack cannot be pinned; "
            "install kiln (pip install -e .) and restart the server"
        ) from None
    pins: dict[str, str] = {}
    queue = [Requirement(text) for text in kiln.requires or ()]
    while queue:
        requirement = queue.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra of kiln's, or another platform's dependency
        name = canonicalize_name(requirement.name)
        try:
            installed = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this installation goes without
        extras = requirement.extras
        if name not in pins:
            pins[name] = f"{installed.metadata['Name']}=={installed.version}"
        elif not extras:
            continue
        for text in installed.requires or ():
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or marker.evaluate({"extra": ""}) or any(marker.evaluate({"extra": e}) for e in extras):
                queue.append(dependency)
    pins.pop(KILN, None)
    return pins


def model_requirement_lines(text: str, where: str) -> list[Requirement]:
    """The package requirements of a ``requirements.txt`` (comments and blank lines skipped); an option line
    (``-r``, ``--index-url``…) or anything else that is not one package is refused, naming the line."""
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            if line.startswith("-"):
                raise InvalidRequirement("an option")
            found.append(Requirement(line))
        except InvalidRequirement as exc:
            raise InvalidSpec(
                f"{where} line {number}: '{line[:80]}' is not a package requirement ({exc}); a build context pins "
                "packages only: remove the line or replace it with the package it installs"
            ) from None
    return found


def pin(model: Iterable[Requirement], stack: dict[str, str]) -> PinnedRequirements:
    """The stack's pins with the model's requirements merged in (see the module's docstring)."""
    pinned = PinnedRequirements(lines=dict(stack))
    for requirement in model:
        name = canonicalize_name(requirement.name)
        if name == KILN:
            continue  # kiln installs from its wheel
        if requirement.url:
            pinned.lines[name] = str(requirement)
            continue
        installed = _installed_version(requirement.name)
        exact = _exact(requirement)
        if exact is not None:
            pinned.lines[name] = str(requirement)
            if installed is not None and installed != exact and name in stack:
                pinned.notes.append(
                    f"{requirement.name}: the model's =={exact} instead of the server's {installed} (the model was "
                    "saved with it)"
                )
        elif installed is not None and requirement.specifier.contains(installed, prereleases=True):
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            marker = f"; {requirement.marker}" if requirement.marker else ""
            pinned.lines[name] = f"{requirement.name}{extras}=={installed}{marker}"
        else:
            pinned.lines[name] = str(requirement)
            pinned.notes.append(
                f"{requirement.name}: not pinned ({'not installed on the server' if installed is None else f'the server has {installed}'}), "
                f"as the model asks: {requirement}"
            )
    return pinned


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _exact(requirement: Requirement) -> str | None:
    specifiers = list(requirement.specifier)
    if len(specifiers) == 1 and specifiers[0].operator in ("==", "===") and "*" not in specifiers[0].version:
        return specifiers[0].version
    return None
