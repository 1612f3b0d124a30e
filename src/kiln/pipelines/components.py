"""A component a job names, looked up in the workspace: a pipeline step's ``component`` and a sweep's ``trial``
(``kiln:NAME:VERSION``, ``azureml:NAME:VERSION``, ``NAME@latest``), or given inline (a ``file:`` the client read)."""

from __future__ import annotations

from kiln.errors import InvalidSpec, NotFound
from kiln.pipelines.component import LATEST, ComponentSpec, component_file, parse_component_reference
from kiln.store.components import ComponentRepository
from kiln.store.tables import ComponentRow


def component_row(components: ComponentRepository, name: str, version: str, field: str) -> ComponentRow:
    """The registered component ``name:version`` (``latest``: its newest), or NotFound naming ``field``."""
    if version == LATEST:
        rows = components.versions(name)
        row = rows[0] if rows else None
    else:
        row = components.find(name, version)
    if row is None:
        known = [r.version for r in components.versions(name)]
        hint = f"its versions: {', '.join(known)}" if known else "kiln component list shows the components there are"
        what = f"{name}@latest" if version == LATEST else f"{name}:{version}"
        raise NotFound(f"{field}: component '{what}' not found ({hint})")
    return row


def resolve_component(components: ComponentRepository, given: object, field: str) -> ComponentSpec | None:
    """The component ``given`` names (a reference text; an inline component as it is; anything else None), a
    registered one looked up."""
    if not isinstance(given, str):
        return given if isinstance(given, ComponentSpec) else None
    if component_file(given) is not None:
        raise InvalidSpec(
            f"{field}: '{given}' is a file on the submitting machine: kiln job create (and the SDK) read it and "
            "send the component inline; a REST client sends it inline itself"
        )
    reference = parse_component_reference(given, field)
    return ComponentSpec.model_validate(component_row(components, reference.name, reference.version, field).spec)


def pinned_reference(components: ComponentRepository, given: object, field: str) -> str | None:
    """``kiln:NAME:VERSION`` for a registered component's reference (``@latest`` resolved now); None otherwise."""
    if not isinstance(given, str) or component_file(given) is not None:
        return None
    reference = parse_component_reference(given, field)
    row = component_row(components, reference.name, reference.version, field)
    return f"kiln:{row.name}:{row.version}"
