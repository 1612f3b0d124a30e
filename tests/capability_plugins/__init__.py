"""Capability plug-ins that exist only for the tests (named by ``plugins`` / ``KILN_PLUGINS``).

- ``echo``: a complete capability (a CLI command, a router, a service, a job kind), nothing heavy;
- ``heavy``: a command whose module imports a package that is not installed: listing it must not
  import it;
- ``absent``: a capability whose extra is not installed: its command and routes answer MissingExtra;
- ``not_a_capability``: a module without ``CAPABILITY``.
"""
