"""The capabilities this kiln knows: the built-in ones, one line each below, and the plug-ins that the
``plugins`` setting names (``KILN_PLUGINS=mod1,mod2`` or ``plugins: [mod1, mod2]`` in config.yaml).

Both are Python modules that expose ``CAPABILITY`` (a :class:`~kiln.capabilities.Capability`);
loading one imports that module only (the descriptor, not what it names) and registers its job kinds.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.capabilities.descriptor import Capability
from kiln.errors import InvalidSpec

if TYPE_CHECKING:
    from kiln.api.operation import Operation

BUILT_IN: tuple[str, ...] = (
    "kiln.tensorboard",  # kiln tensorboard: jobs' ./logs and MLflow metrics side by side in TensorBoard
    "kiln.packaging",  # models out as files: Docker build contexts, Kubernetes manifests, Triton repositories
    "kiln.conversion",  # kiln model convert: registered models to ONNX with a parity proof (job kind model_conversion)
    "kiln.rai",  # type: responsible_ai jobs, kiln rai: explanations, fairness assessment and mitigation
    "kiln.encrypted",  # encryption: {scheme: ckks} deployments, EncryptedClient, invoke --encrypted (TenSEAL)
    "kiln.privacy",  # kiln privacy: private data versions, a privacy-budget ledger, DP queries
    "kiln.rollout",  # kiln online-endpoint rollout: mirror, then traffic steps watched, rolled back on a breach
    "kiln.batch",  # kiln batch-endpoint/batch-deployment: data sets scored as batch_scoring jobs (local pool or Ray Data)
    "kiln.sweeps",  # type: sweep jobs: trials as child jobs, Optuna's samplers, early termination, in the server
    "kiln.schedules",  # kiln schedule: jobs submitted on a cron or recurrence timetable by the workspace server
    "kiln.pipelines",  # type: pipeline jobs, command components (kiln component), step reuse, in the server
)

PLUGINS_SETTING = "plugins (KILN_PLUGINS, or 'plugins' in config.yaml)"

_loaded: dict[str, Capability] = {}  # by module name
_lock = threading.RLock()  # a plug-in module may itself load capabilities while it is imported


def load_capabilities(plugins: Iterable[str] = ()) -> list[Capability]:
    """The built-in capabilities, then the plug-ins named, each loaded once per process.

    A plug-in that cannot be loaded, or that claims a name or job type another capability has, is
    an InvalidSpec naming the setting (never a traceback)."""
    names = [*BUILT_IN, *dict.fromkeys(name.strip() for name in plugins if name.strip() not in ("", *BUILT_IN))]
    with _lock:
        capabilities = [_load(module, plugin=module not in BUILT_IN) for module in names]
    taken: dict[str, str] = {}
    for module, capability in zip(names, capabilities, strict=True):
        if capability.name in taken:
            raise InvalidSpec(
                f"{PLUGINS_SETTING}: '{module}' and '{taken[capability.name]}' are both the capability "
                f"'{capability.name}'; name each module once"
            )
        taken[capability.name] = module
    return capabilities


def load_configured_capabilities(home: str | Path | None = None) -> list[Capability]:
    """:func:`load_capabilities` with the plug-ins this process's settings name: the CLI calls it at start
    (a program that submits a plug-in's job kinds through the SDK calls it once too)."""
    return load_capabilities(configured_plugins(home))


def configured_plugins(home: str | Path | None = None) -> tuple[str, ...]:
    """The ``plugins`` setting as ``Settings.load(home=home).plugin_modules`` reads it (``KILN_PLUGINS``, any
    case, else ``plugins`` in config.yaml), without building the settings: pydantic-settings alone costs
    more than a whole ``kiln --help`` may take."""
    from_environment = [value for name, value in os.environ.items() if name.lower() == "kiln_plugins"]
    if from_environment:
        value: object = from_environment[-1]
    else:
        from kiln.config_file import read_config_file  # YAML is imported only where a config.yaml exists

        value = read_config_file(home).get("plugins") or ""
    if isinstance(value, list | tuple):
        value = ",".join(str(item) for item in value)
    if not isinstance(value, str):
        raise InvalidSpec(f"{PLUGINS_SETTING}: expected module names, comma-separated, found {value!r}")
    return tuple(name.strip() for name in value.split(",") if name.strip())


def rest_contract(capabilities: Iterable[Capability]) -> dict[str, Operation[Any]]:
    """Every REST operation of a server with these capabilities: kiln's own and each capability's ``api``
    (imported here, not at the top: the CLI loads capabilities at every start)."""
    from kiln.api import operations

    return operations(*(module for capability in capabilities if (module := capability.api_module()) is not None))


def capability_of_job_type(job_type: str) -> Capability | None:
    """The loaded capability that brings job type ``job_type`` (None for kiln's own ``command``): the job
    engine checks it is installed (``check_installed``) before loading the kind's handler."""
    with _lock:
        return next((c for c in _loaded.values() if any(k.type == job_type for k in c.job_kinds)), None)


def _load(module: str, *, plugin: bool) -> Capability:
    if module in _loaded:
        return _loaded[module]
    try:
        capability = _descriptor(module)
        if capability.job_kinds:  # declared: they join the specs' registry when it is imported (pydantic)
            from kiln.specs.job_kind_declarations import declare

            for kind in capability.job_kinds:
                declare(kind)
    except Exception as exc:
        if not plugin:
            raise  # a built-in capability that does not load is kiln's bug: show where
        raise InvalidSpec(f"{PLUGINS_SETTING}: cannot load the plug-in '{module}': {_reason(exc)}") from None
    _loaded[module] = capability
    return capability


def _descriptor(module: str) -> Capability:
    capability = getattr(importlib.import_module(module), "CAPABILITY", None)
    if not isinstance(capability, Capability):
        raise TypeError(f"it has no CAPABILITY (a kiln.capabilities.Capability), found {type(capability).__name__}")
    return capability


def _reason(exc: Exception) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return f"no module named '{exc.name}' in this Python"
    if isinstance(exc, TypeError | ValueError):
        return str(exc)
    return f"importing it raised {type(exc).__name__}: {exc}"
