"""YAML files that remember where each field was written, for errors that name the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kiln.errors import InvalidSpec

if TYPE_CHECKING:  # PyYAML is imported when YAML is read (a client listing jobs reads none); pydantic when a
    import yaml  # model is validated (a simple job file is read and sent without it: kiln.sdk.simple_submit)
    from pydantic import BaseModel, ValidationError

FieldPath = tuple[str | int, ...]


@dataclass
class YamlSource:
    """A parsed YAML document plus the line (1-based) where each field path starts."""

    data: Any
    path: Path | None = None
    lines: dict[FieldPath, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.path) if self.path else "<spec>"

    def line_of(self, loc: FieldPath) -> int | None:
        """The line of the deepest written field on ``loc``'s path."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def where(self, loc: FieldPath) -> str:
        line = self.line_of(loc)
        return f"{self.label}, line {line}" if line else self.label


def parse_yaml(text: str, path: Path | None = None) -> YamlSource:
    node, data = load_yaml(text, str(path) if path else "<spec>")
    lines: dict[FieldPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlSource(data=data, path=path, lines=lines)


# Bounded YAML: every YAML kiln reads (spec files, MLTable files, config.yaml, --set values) goes through
# load_yaml, which refuses what would cost far more to expand than it costs to send (docs/limits.md).
MAX_YAML_BYTES = 4 << 20  # the text of one document
MAX_YAML_ALIASES = 100  # '*name' references to anchors
MAX_YAML_NODES = 200_000  # values in the document once every alias is expanded
MAX_YAML_DEPTH = 100  # collections inside collections


class _YamlTooCostly(Exception):
    """A document past a limit, found while it is composed (before anything is expanded)."""


@cache
def _loader_class() -> Any:
    """PyYAML's safe loader that counts aliases and depth while it composes the node graph (made on first use)."""
    import yaml

    class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]  # (PyYAML has no types here)
        """PyYAML's safe loader that counts aliases and depth while it composes the node graph."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.aliases = 0
            self.depth = 0

        def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    raise _YamlTooCostly(f"more than {MAX_YAML_ALIASES} aliases (*name)")
            self.depth += 1
            try:
                if self.depth > MAX_YAML_DEPTH:
                    raise _YamlTooCostly(f"collections nested more than {MAX_YAML_DEPTH} deep")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return _BoundedLoader


def load_yaml(text: str, label: str) -> tuple[yaml.Node | None, Any]:
    """One YAML document, parsed safely and within bounds: its node graph (for line numbers) and its data.

    InvalidSpec naming ``label`` (the file) when it is malformed, longer than ``MAX_YAML_BYTES``, or
    uses anchors and aliases past ``MAX_YAML_ALIASES`` or ``MAX_YAML_NODES`` once expanded (an alias
    bomb: a few hundred bytes that expand to gigabytes)."""
    if len(text) > MAX_YAML_BYTES:
        raise InvalidSpec(f"{label}: {len(text)} characters of YAML; at most {MAX_YAML_BYTES} are read")
    import yaml

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expanded_size(node)
        data = loader.construct_document(node) if node is not None else None
    except _YamlTooCostly as exc:
        raise InvalidSpec(f"{label}: refused: the YAML has {exc} (the limits: docs/limits.md)") from None
    except yaml.YAMLError as exc:
        raise InvalidSpec(f"{label}{_yaml_problem(exc)}") from None
    finally:
        loader.dispose()
    return node, data


def _check_expanded_size(root: yaml.Node) -> None:
    """The number of values the document holds with every alias expanded (each node once per place it appears)."""
    import yaml

    sizes: dict[int, int] = {}

    def size(node: yaml.Node, open_nodes: set[int]) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _YamlTooCostly("an alias inside its own anchor (a recursive value)")
        total = 1
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            open_nodes.add(key)
            children = (
                [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else node.value
            )
            for child in children:
                total += size(child, open_nodes)
                if total > MAX_YAML_NODES:
                    raise _YamlTooCostly(f"more than {MAX_YAML_NODES} values once its aliases are expanded")
            open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root, set())


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark:
        problem += f" ({context} that starts at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return f"{where}: malformed YAML: {problem}"


def read_yaml_file(path: str | Path) -> YamlSource:
    file = Path(path)
    if not file.is_file():
        raise InvalidSpec(f"{file}: no such file (check the path given with -f)")
    return parse_yaml(file.read_text(), file)


def spec_source(spec: Any, fields: dict[str, Any]) -> tuple[YamlSource, Path | None]:
    """A resource given to the SDK as a file, a mapping or a model already built, with ``fields`` set over it
    (``--name``, ``--set-default``…); the file's folder, where its relative paths start (None otherwise)."""
    if hasattr(spec, "model_dump"):  # a pydantic model
        return YamlSource({**spec.model_dump(mode="json", by_alias=True, exclude_none=True), **fields}), None
    if isinstance(spec, dict):
        return YamlSource({**spec, **fields}), None
    source = read_yaml_file(spec)
    if isinstance(source.data, dict):
        source.data.update(fields)
    return source, Path(spec).parent


def _record_lines(node: yaml.Node, prefix: FieldPath, lines: dict[FieldPath, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, str(key_node.value))
            lines[key] = key_node.start_mark.line + 1
            _record_lines(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = (*prefix, index)
            lines[key] = item.start_mark.line + 1
            _record_lines(item, key, lines)


def format_loc(loc: FieldPath) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<document>"


def explain_validation_error(exc: ValidationError, source: YamlSource | None = None) -> InvalidSpec:
    return explain_errors(list(exc.errors()), source)


def explain_errors(errors: list[Any], source: YamlSource | None = None) -> InvalidSpec:
    """Turn pydantic's errors into one message that names each bad field (and its line)."""
    problems = []
    # A mapping given where a union also admits scalars yields "should be a valid number"
    # noise next to the real problem inside the mapping; keep the real one.
    informative = [e for e in errors if not _scalar_mismatch_on_container(e)]
    for err in informative or errors:
        loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
        where = f"{source.where(loc)}: " if source else ""
        if err["type"] == "extra_forbidden":
            what = f"unknown field '{format_loc(loc)}' (check its spelling; see the schema at /docs)"
        elif err["type"] == "missing":
            what = f"required field '{format_loc(loc)}' is missing"
        else:
            what = f"field '{format_loc(loc)}': {err['msg'].removeprefix('Value error, ')}"
        problems.append(where + what)
    problems = list(dict.fromkeys(problems))
    return InvalidSpec("; ".join(problems))


def _scalar_mismatch_on_container(err: Any) -> bool:
    scalar_types = (
        "string_type",
        "int_type",
        "float_type",
        "bool_type",
        "int_parsing",
        "float_parsing",
        "bool_parsing",
    )
    return err["type"] in scalar_types and isinstance(err.get("input"), dict | list)


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the union member's name (e.g. 'str', 'JobInputSpec') to the location
    return isinstance(part, str) and (part[:1].isupper() or part in {"str", "int", "float", "bool", "dict"})


ModelT = TypeVar("ModelT", bound="BaseModel")


def validate_model(model: type[ModelT], source: YamlSource) -> ModelT:
    if not isinstance(source.data, dict):
        raise InvalidSpec(f"{source.label}: expected a mapping of fields at the top level")
    from pydantic import ValidationError

    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        raise explain_validation_error(exc, source) from None


def spec_body(
    model: type[ModelT], spec: str | Path | BaseModel | dict[str, Any] | None, fields: dict[str, Any]
) -> dict[str, Any]:
    """A REST body from a YAML file, a spec, a mapping or nothing, with ``fields`` (those not None) over it,
    checked here against ``model`` so that a mistake names the file's line."""
    from pydantic import BaseModel

    if spec is None:
        source = YamlSource({})
    elif isinstance(spec, BaseModel):
        source = YamlSource(spec.model_dump(by_alias=True, exclude_none=True))
    elif isinstance(spec, dict):
        source = YamlSource(dict(spec))
    else:
        source = read_yaml_file(spec)
    if isinstance(source.data, dict):
        source.data.update({k: v for k, v in fields.items() if v is not None})
    return validate_model(model, source).model_dump(mode="json", by_alias=True, exclude_none=True)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set a.b=value`` overrides; values are parsed as YAML scalars."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidSpec(f"--set {item!r}: expected KEY=VALUE, e.g. --set limits.timeout=60")
        try:
            value = load_yaml(raw, f"--set {key.strip()}")[1] if raw else ""
        except InvalidSpec:
            value = raw
        target = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = target.get(part)
            if child is None:
                child = target[part] = {}
            if not isinstance(child, dict):
                raise InvalidSpec(f"--set {item!r}: '{part}' is not a mapping, so it has no field '{parts[-1]}'")
            target = child
        target[parts[-1]] = value
    return data
