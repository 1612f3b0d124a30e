"""Optional packages ("extras"): one way to import them, one message when one is missing.

``pip install kiln`` brings the core; each optional part names the extra that brings its packages
(``[project.optional-dependencies]`` in pyproject.toml: ``onnx``, ``tensorboard``, ``ray``…). Code
that needs such a package imports it through :func:`require_extra` (or checks for it with
:func:`check_extra`), never with a bare ``import`` at the top of a module, so that

- ``import kiln`` and ``kiln --help`` stay light: a package is imported where it is used;
- a missing package is always a :class:`~kiln.errors.MissingExtra` worded the same way: what needs
  it, what is missing and in which Python, and the one command that fixes it::

      kiln tensorboard needs 'tensorboard' (the kiln[tensorboard] extra), which is not installed
      in /usr/bin/python3: pip install "kiln[tensorboard]"
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

from kiln.errors import MissingExtra


def require_extra(extra: str, module: str | None = None, *, needed_by: str) -> ModuleType:
    """Import ``module`` (default: the module named like the extra) and return it; MissingExtra
    naming ``extra`` when it cannot be imported. ``needed_by`` says who asks (a command, a route,
    a function), as the message's subject."""
    name = module or extra
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise missing_extra(extra, name, needed_by=needed_by, cause=exc) from None


def check_extra(extra: str, modules: tuple[str, ...] = (), *, needed_by: str) -> None:
    """MissingExtra unless each of ``modules`` (default: the module named like the extra) can be
    found, without importing any: for a check before work starts (a command, a route, a service),
    where the import itself comes later, or in another process."""
    for name in modules or (extra,):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a dotted name whose parent is missing
            found = False
        if not found:
            raise missing_extra(extra, name, needed_by=needed_by)


def missing_extra(extra: str, module: str, *, needed_by: str, cause: ImportError | None = None) -> MissingExtra:
    """The one wording of a missing extra; ``cause`` is the ImportError met, if any (also one raised
    in another library, such as SQLAlchemy loading a database driver)."""
    reason = _reason(cause, module) if cause is not None else f"which is not installed in {sys.executable}"
    return MissingExtra(
        f'{needed_by} needs {module!r} (the kiln[{extra}] extra), {reason}: pip install "kiln[{extra}]"'
    )


class LazyExtra:
    """A module of an extra, imported through :func:`require_extra` on first attribute access.

    For modules that use a framework in many functions: bind the name once, with the real module
    for the type checker, and use it as if imported::

        if TYPE_CHECKING:
            import torch
        else:
            torch = LazyExtra("torch", needed_by="kiln.integrations.torch")
    """

    def __init__(self, extra: str, module: str | None = None, *, needed_by: str) -> None:
        self._extra, self._module, self._needed_by = extra, module, needed_by
        self._loaded: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute in _OWN_ATTRIBUTES:  # asked before __init__ set them (copy, pickle): not the module's
            raise AttributeError(attribute)
        if self._loaded is None:
            self._loaded = require_extra(self._extra, self._module, needed_by=self._needed_by)
        return getattr(self._loaded, attribute)


_OWN_ATTRIBUTES = frozenset({"_extra", "_module", "_needed_by", "_loaded"})


def _reason(exc: ImportError, module: str) -> str:
    missing = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and missing and (module == missing or module.startswith(f"{missing}.")):
        return f"which is not installed in {sys.executable}"
    return f"which cannot be imported in {sys.executable} ({exc})"
