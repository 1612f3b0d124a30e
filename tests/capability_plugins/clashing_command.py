"""A test plug-in whose command is named like one of kiln's own."""

from kiln.capabilities import Capability, CliCommand

CAPABILITY = Capability(
    name="clashing-command",
    summary="adds a second `kiln job` (tests only)",
    commands=(CliCommand("job", "tests.capability_plugins.echo_parts:echo_command", "Another job."),),
)
