"""A test plug-in whose extra is not installed."""

from kiln.capabilities import Capability, CliCommand

CAPABILITY = Capability(
    name="absent-test",
    summary="needs an extra that is not installed (tests only)",
    extra="absent-test",
    modules=("kiln_test_absent_extra_module",),
    commands=(CliCommand("absent-test", "tests.capability_plugins.absent_parts:app", "Needs the extra."),),
    api="tests.capability_plugins.absent_api",
    router="tests.capability_plugins.absent_parts:absent_router",
    service="tests.capability_plugins.absent_parts:AbsentService",
)
