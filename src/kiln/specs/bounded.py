"""Bounded inputs: the constrained types every spec and REST body uses for what a user may send.

Each limit is a named constant here, documented in ``docs/limits.md``; a value outside one is
refused where the spec is read (CLI, SDK, server: 422) with an error that names the field. Text
that reaches a process, a file name or a database holds no NUL byte; environment variable
names are what a shell and ``execve`` accept.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

# Text ---------------------------------------------------------------------------------------
MAX_NAME_LENGTH = 255  # names of jobs, assets, outputs (the name patterns say which characters)
MAX_SHORT_TEXT_LENGTH = 256  # display names, experiment names (MLflow keeps an experiment name in 256 characters)
MAX_TEXT_LENGTH = 65_536  # descriptions
MAX_PATH_LENGTH = 4096  # paths and references (PATH_MAX)
MAX_COMMAND_LENGTH = 100_000  # a job's command: Linux takes one argument of at most 128 KiB (bash -c COMMAND)
MAX_TAGS = 200
MAX_TAG_KEY_LENGTH = 250  # MLflow's limit for a tag key (and its characters: see tag_key)
MAX_TAG_VALUE_LENGTH = 5000  # MLflow's limit for a tag value
MAX_VARIABLES = 500
MAX_VARIABLE_NAME_LENGTH = 255
MAX_VARIABLE_VALUE_LENGTH = 32_768
MAX_JOB_IO = 100  # a job's inputs, and its outputs
MAX_LITERAL_INPUT_LENGTH = 32_768  # a literal input's text (it lands in the command line)
MAX_VARIABLES_BYTES = 1 << 20  # all of a job's variables together: execve's ARG_MAX (2 MiB) holds them with the command

# Numbers ------------------------------------------------------------------------------------
MAX_JOB_TIMEOUT_SECONDS = 90 * 86_400  # limits.timeout: 90 days
MAX_PROCESSES_PER_INSTANCE = 256  # distribution.process_count_per_instance, worker_count, parameter_server_count
MAX_INSTANCE_COUNT = 100  # resources.instance_count (Azure's cluster maximum); local compute runs one
MAX_GPU_COUNT = 64  # resources.gpu_count
MAX_PORT = 65_535
MAX_REPLICAS = 64  # an online deployment's instance_count
MAX_REQUEST_TIMEOUT_MS = 180_000  # request_settings.request_timeout_ms (Azure's maximum)
MAX_CONCURRENT_REQUESTS = 1024  # request_settings.max_concurrent_requests_per_instance
MAX_PROBE_SECONDS = 3600  # a probe's initial_delay and period
MAX_PROBE_TIMEOUT_SECONDS = 300  # a probe's timeout
MAX_PROBE_THRESHOLD = 1000  # a probe's success_threshold and failure_threshold
MAX_BATCH_SIZE = 4096  # batching.max_batch_size
MAX_QUEUE_DELAY_MS = 10_000.0  # batching.max_queue_delay_ms
MAX_ONNX_THREADS = 256  # onnx.intra_op_threads and onnx.inter_op_threads of a deployment
MAX_ENCRYPTED_REQUEST_MB = 2048  # encryption.max_request_mb of a deployment
MAX_ENCRYPTED_CONTEXTS = 1024  # encryption.max_contexts
MAX_LINEAGE_DEPTH = 100  # GET /jobs/{name}/lineage?depth=

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TAG_KEY = re.compile(r"[/\w.\- :]+")
NUL_MESSAGE = "contains a NUL byte (\\x00), which no process argument, file name or database text can hold"


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    return value


NO_NUL = AfterValidator(no_nul)

Name = Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH), NO_NUL]
"""A name (a pattern on the field says which characters); at most 255 characters."""
ShortText = Annotated[str, StringConstraints(max_length=MAX_SHORT_TEXT_LENGTH), NO_NUL]
"""A display name or an experiment name: at most 256 characters, no NUL."""
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH), NO_NUL]
"""A description: at most 64 KiB of characters, no NUL."""
PathText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH_LENGTH), NO_NUL]
"""A path or a reference (``upload:…``, ``runs:/…``, ``kiln:NAME:VERSION``): 1 to 4096 characters, no NUL."""
Command = Annotated[str, StringConstraints(min_length=1, max_length=MAX_COMMAND_LENGTH), NO_NUL]
"""A job's command: 1 to 100,000 characters, no NUL."""

Scalar = str | int | float | bool


def _check_mapping(value: dict[str, Any], *, what: str, most: int, key: Any, max_value_length: int) -> dict[str, Any]:
    """One error naming the entry at fault (its key), whatever is wrong with it."""
    if len(value) > most:
        raise ValueError(f"{len(value)} {what}s; at most {most} are accepted")
    for name, item in value.items():
        key(name)
        check_text(name, item, max_value_length)
    return value


def check_text(name: str, item: Any, max_length: int) -> None:
    """Text given under ``name``: at most ``max_length`` characters, no NUL (anything else passes)."""
    if isinstance(item, str):
        if len(item) > max_length:
            raise ValueError(f"{_shown(name)}: {len(item)} characters; at most {max_length} are accepted")
        if "\x00" in item:
            raise ValueError(f"{_shown(name)}: {NUL_MESSAGE}")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def tag_key(name: str) -> str:
    """MLflow's rule for tag keys (jobs' and models' tags are MLflow's), for every resource's tags alike."""
    normal = posixpath.normpath(name) if name else ""
    if (
        not 1 <= len(name) <= MAX_TAG_KEY_LENGTH
        or not TAG_KEY.fullmatch(name)
        or normal != name
        or normal == "."
        or normal.startswith(("..", "/"))
    ):
        raise ValueError(
            f"{_shown(name)} is not a tag key: 1 to {MAX_TAG_KEY_LENGTH} letters, digits and '_', '-', '.', ' ', ':', "
            "'/' (MLflow's rule), and not a path that resolves to another ('a/../b', '/a', '..', 'a/')"
        )
    return name


def variable_name(name: str) -> str:
    if len(name) > MAX_VARIABLE_NAME_LENGTH or not VARIABLE_NAME.fullmatch(name):
        raise ValueError(
            f"{_shown(name)} is not an environment variable name: use letters, digits and '_', not starting with a "
            f"digit, at most {MAX_VARIABLE_NAME_LENGTH} characters (no '=', no spaces, no NUL)"
        )
    return name


def _tags(value: dict[str, Any]) -> dict[str, Any]:
    return _check_mapping(value, what="tag", most=MAX_TAGS, key=tag_key, max_value_length=MAX_TAG_VALUE_LENGTH)


def _variables(value: dict[str, Any]) -> dict[str, Any]:
    _check_mapping(
        value, what="variable", most=MAX_VARIABLES, key=variable_name, max_value_length=MAX_VARIABLE_VALUE_LENGTH
    )
    size = sum(len(name) + len(str(item)) + 2 for name, item in value.items())
    if size > MAX_VARIABLES_BYTES:
        raise ValueError(f"the variables take {size} characters together; at most {MAX_VARIABLES_BYTES} fit")
    return value


Tags = Annotated[dict[str, Scalar], AfterValidator(_tags)]
"""Tags: at most 200, keys of 1 to 250 characters, text values of at most 5000 (MLflow's limits), no NUL."""
TextTags = Annotated[dict[str, str], AfterValidator(_tags)]
"""Tags whose values are text (a registered model's, as MLflow keeps them)."""
EnvironmentVariables = Annotated[dict[str, Scalar], AfterValidator(_variables)]
"""A job's variables: at most 500, valid names, values of at most 32 KiB without NUL, 1 MiB in all."""
TextVariables = Annotated[dict[str, str], AfterValidator(_variables)]
"""A deployment's variables (values as text)."""


class StrictModel(BaseModel):
    """Rejects unknown fields, so a misspelt field is an error instead of silently ignored. (Here, not in
    ``job.py``: a spec that is not a job's, such as users', need not build the job models to have it.)"""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
