"""Optional capabilities as plug-ins: each one a package with a small descriptor, listed in one registry.

A capability (ONNX conversion, responsible AI, sweeps, TensorBoard…) adds to kiln through a
:class:`Capability` in its package's ``__init__``: its CLI commands, its router, its service factory,
its job kinds and the extra it needs, all named as ``"module:attribute"`` and loaded on first use.
Adding one is adding its package and one line to :data:`~kiln.capabilities.registry.BUILT_IN`
(or, outside kiln, naming its module in the ``plugins`` setting); the front doors pick it up:

- the CLI lists its commands without importing them (``kiln.cli.capabilities``);
- the workspace server mounts its router and builds its service with a
  :class:`~kiln.capabilities.services.CapabilityContext` (``kiln.server.capabilities``,
  ``kiln.server.wiring``);
- its job kinds are registered with ``kiln.specs.job_kinds`` when it is loaded.

A capability whose extra is not installed still loads: its commands and routes answer with the
MissingExtra message (``pip install "kiln[EXTRA]"``) instead of breaking the CLI or the server.
"""

from kiln.capabilities.descriptor import Capability, CliCommand
from kiln.capabilities.registry import BUILT_IN, load_capabilities, load_configured_capabilities, rest_contract

__all__ = ["BUILT_IN", "Capability", "CliCommand", "load_capabilities", "load_configured_capabilities", "rest_contract"]
