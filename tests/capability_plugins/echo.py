"""A test plug-in with every part a capability can have."""

from kiln.capabilities import Capability, CliCommand
from kiln.specs.job_kinds import JobKind

CAPABILITY = Capability(
    name="echo-test",
    summary="says back what it is given (tests only)",
    commands=(CliCommand("echo-test", "tests.capability_plugins.echo_parts:echo_command", "Say it back."),),
    api="tests.capability_plugins.echo_api",
    router="tests.capability_plugins.echo_parts:echo_router",
    service="tests.capability_plugins.echo_parts:EchoService",
    job_kinds=(
        JobKind(
            "echo-test",
            spec="tests.capability_plugins.echo_parts:EchoJobSpec",
            handler="tests.capability_plugins.echo_parts:EchoHandler",
        ),
    ),
)
