"""A command job from a simple YAML file, submitted without building its spec's models on this side.

``JobOperations.create`` checks a spec with pydantic's models before it sends it (so that a mistake names the
file's line), and the server checks it again with the same models. For the files most jobs are (a command, a
code folder, an experiment, names, tags, an environment named by reference: every field one of
:data:`TEXT_FIELDS` or :data:`TEXT_MAPPINGS`, and every value text) the client's check adds nothing when the spec
is right, and importing and building the models costs a CLI start about 0.25 s of CPU (issue 13). Such a file is
sent as it was written (its code folder uploaded, its experiment named after its folder when it names none, as
the full path does), and the server's answer is kept as plain JSON (``Job``'s view is validated when first read).

When the workspace refuses it (any ``KilnError``, an unreachable workspace included), the caller runs the full
client-side check (``check_submission``) and raises what that finds first: an error the client would have found
before sending is the same error, worded the same, with its line; else the server's own error is raised, as it
would have been. Anything else in a file (inputs, outputs, limits, an inline environment, another job type,
values that are not text, ``--set`` overrides) goes the full way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiln.api.paths import JOBS
from kiln.errors import Unavailable
from kiln.sdk.rest import RestClient
from kiln.specs.yaml_source import YamlSource

TEXT_FIELDS = frozenset(
    {"$schema", "name", "display_name", "experiment_name", "description", "compute", "code", "command", "environment"}
)
"""Fields of a simple job file, each text (an ``environment`` by reference: an inline one is sent with its files)."""
TEXT_MAPPINGS = frozenset({"tags", "environment_variables"})
"""Fields of a simple job file, each a mapping of text to text."""
UPLOADED = "upload:"


def simple_fields(data: Any) -> dict[str, Any] | None:
    """``data`` (a YAML file's document) when it is a simple command job, else None."""
    if not isinstance(data, dict) or data.get("type", "command") != "command" or "command" not in data:
        return None
    for key, value in data.items():
        if key == "type":
            continue
        if key in TEXT_FIELDS:
            if not isinstance(value, str) or (key == "code" and not value):  # code '': no folder to the full check
                return None
        elif key in TEXT_MAPPINGS:
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                return None
        else:
            return None
    return data


def submit_simple(rest: RestClient, source: YamlSource, base_dir: Path) -> dict[str, Any] | None:
    """Submit the job of ``source`` (a YAML file read from ``base_dir``) as it was written, with its code folder
    uploaded; the server's answer (a ``JobView`` as JSON). None (nothing sent) when the file is not simple, or
    names a code folder that is not there (the full check words that error)."""
    from kiln.sdk.uploads import upload_path

    fields = simple_fields(source.data)
    if fields is None:
        return None
    body = dict(fields)
    code = body.get("code")
    if code is not None and not code.startswith(UPLOADED):
        local = base_dir / code
        if not local.exists():
            return None
        body["code"] = upload_path(rest, local)
    if body.get("experiment_name") is None:
        body["experiment_name"] = base_dir.resolve().name
    answer = rest.send_json("POST", JOBS, json=body)
    if not isinstance(answer, dict) or not {"id", "name", "status"} <= answer.keys():
        raise Unavailable(
            f"the workspace at {rest.url} answered a job's submission with no job this kiln can read "
            f"({answer!r:.200}); is this kiln (kiln version) older than the workspace?"
        )
    return answer
