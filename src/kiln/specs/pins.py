"""Pinned records: what a job was given exactly, kept with it (its environment, its path inputs).

At submit a loose reference becomes an exact record (``kiln:iris@latest`` → version 3; an
environment → its hash and requirements), stored on the job's row as JSON, so the job reads
what was current when it was submitted, a rerun repeats it and lineage names exact versions.
Each record says what it is in ``kind``. The JSON keeps the shape it has always had: fields
a record was not given are left out (not written as null), and fields these classes do not
know are kept, so rows and workspace archives written by any kiln version load and round-trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

SERVER_INTERPRETER: Final = "server-interpreter"


def _unset(value: object) -> bool:
    return value is None


class PinnedRecord(BaseModel):
    """A stored record: unknown fields are kept (written by another kiln version), never refused.

    Each record class is built on first use (``defer_build``): a client that reads job views builds them once, as
    part of the view's model, not each on its own when this module is imported (``kiln job list``'s start-up)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    kind: str

    def record(self) -> dict[str, Any]:
        """The record as stored on the job's row."""
        return self.model_dump(mode="json")


# Environments ------------------------------------------------------------------------------------
class EnvironmentPinBase(PinnedRecord):
    """An environment as pinned at submit; preparing it adds what was built (lock, build_log, venv)."""

    lock: list[str] | None = Field(None, exclude_if=_unset, description="Exact packages, once built.")
    build_log: str | None = Field(None, exclude_if=_unset, description="The build's log, once built.")
    venv: str | None = Field(None, exclude_if=_unset, description="The venv the job ran with, once built.")
    ray_runtime_env_pip: list[str] | None = Field(
        None, exclude_if=_unset, description="On a Ray compute target: the packages Ray installed (runtime_env pip)."
    )

    @property
    def is_exact(self) -> bool:
        """Whether the record names exact packages (a rerun then repeats them instead of pinning again)."""
        return bool(self.lock)

    @property
    def label(self) -> str:
        """How the environment is named to people: NAME:VERSION, or its kind."""
        return self.kind


class ServerInterpreterPin(EnvironmentPinBase):
    """No ``environment``: the workspace server's own Python. Records without a ``kind`` are this one."""

    kind: Literal["server-interpreter"] = SERVER_INTERPRETER
    python: str | None = Field(None, exclude_if=_unset, description="The interpreter's path.")

    @property
    def is_exact(self) -> bool:
        return True


class BuiltEnvironmentPin(EnvironmentPinBase):
    """An environment kiln builds: a Python version and requirements, content-addressed by ``hash``."""

    hash: str
    python: str
    requirements: list[str] = Field(default_factory=list)
    image: str | None = None
    notes: list[str] | None = Field(
        None, exclude_if=_unset, description="What kiln does differently from Azure here (said in the job's log)."
    )


class InlineEnvironmentPin(BuiltEnvironmentPin):
    """An environment written into the job's spec."""

    kind: Literal["inline"] = "inline"
    added: str | None = Field(None, description="The MLflow requirement kiln added (None if the spec had one).")


class RegisteredEnvironmentPin(BuiltEnvironmentPin):
    """A registered environment version (``kiln:NAME:VERSION``)."""

    kind: Literal["kiln"] = "kiln"
    name: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.name}:{self.version}"


class CuratedEnvironmentPin(BuiltEnvironmentPin):
    """One of Azure's curated environments, built from kiln's shipped package list (``kiln/environments/curated.yml``)."""

    kind: Literal["curated"] = "curated"
    name: str = Field(description="Its name in Azure's registry, e.g. sklearn-1.5.")
    version: str = Field(description="The version asked for (kiln has one package list per name).")
    reference: str = Field(description="The reference as written in the spec.")
    added: str | None = Field(None, description="The MLflow requirement kiln added (None if the list had one).")

    @property
    def label(self) -> str:
        return f"AzureML-{self.name} (curated)"


def _environment_kind(value: object) -> str:
    if isinstance(value, Mapping):
        return str(value.get("kind", SERVER_INTERPRETER))
    return str(getattr(value, "kind", SERVER_INTERPRETER))


EnvironmentPin = Annotated[
    Annotated[ServerInterpreterPin, Tag(SERVER_INTERPRETER)]
    | Annotated[InlineEnvironmentPin, Tag("inline")]
    | Annotated[RegisteredEnvironmentPin, Tag("kiln")]
    | Annotated[CuratedEnvironmentPin, Tag("curated")],
    Discriminator(_environment_kind),
]
_ENVIRONMENT_PIN: TypeAdapter[EnvironmentPin] = TypeAdapter(EnvironmentPin, config=ConfigDict(defer_build=True))


def environment_pin(record: Mapping[str, Any] | None) -> EnvironmentPin:
    """A stored environment record, typed (an empty or missing one: the server's interpreter, as always)."""
    return _ENVIRONMENT_PIN.validate_python(dict(record or {}))


# Inputs ------------------------------------------------------------------------------------------
class UploadPin(PinnedRecord):
    """A file or folder the CLI/SDK uploaded from the submitting machine."""

    kind: Literal["upload"] = "upload"
    key: str
    content_hash: str


class DataPin(PinnedRecord):
    """A data asset version (``kiln:NAME:VERSION`` or ``kiln:NAME@latest`` as ``reference``)."""

    kind: Literal["data"] = "data"
    reference: str | None = None
    name: str
    version: str
    type: str
    content_hash: str
    key: str
    file: str | None = Field(None, exclude_if=_unset, description="For a uri_file asset: its file's name.")
    remote: str | None = Field(
        None,
        exclude_if=_unset,
        description="A reference to remote data: its path (read and checked against content_hash).",
    )
    private: bool | None = Field(None, exclude_if=_unset, description="A private version (kiln privacy): owners only.")


class ModelPin(PinnedRecord):
    """A registered model version (``kiln:NAME@ALIAS`` etc. as ``requested``)."""

    kind: Literal["model"] = "model"
    name: str
    version: str
    requested: str | None = None


class RemotePin(PinnedRecord):
    """Remote data named by its path (``https://…``, ``s3://…``, ``azureml://datastores/NAME/paths/…``); read
    when the job starts (Azure's semantics for a path; a data asset pins content, see ``DataPin.remote``)."""

    kind: Literal["remote"] = "remote"
    path: str
    type: Literal["file", "folder"]


InputPin = Annotated[UploadPin | DataPin | ModelPin | RemotePin, Field(discriminator="kind")]
_INPUT_PINS: TypeAdapter[dict[str, InputPin]] = TypeAdapter(dict[str, InputPin], config=ConfigDict(defer_build=True))


def input_pins(records: Mapping[str, Any] | None) -> dict[str, InputPin]:
    """A job's stored input records, typed, by input name."""
    return _INPUT_PINS.validate_python(dict(records or {}))


def input_records(pins: Mapping[str, InputPin]) -> dict[str, dict[str, Any]]:
    """Typed input pins as stored on the job's row."""
    return {name: pin.record() for name, pin in pins.items()}
