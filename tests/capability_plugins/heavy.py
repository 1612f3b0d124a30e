"""A test plug-in whose command module imports a package that is not installed."""

from kiln.capabilities import Capability, CliCommand

CAPABILITY = Capability(
    name="heavy-test",
    summary="a command behind a heavy import (tests only)",
    commands=(CliCommand("heavy-test", "tests.capability_plugins.heavy_parts:app", "Needs a heavy package."),),
)
