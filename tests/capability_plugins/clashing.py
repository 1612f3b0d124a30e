"""A test plug-in that claims a capability name another capability has."""

from kiln.capabilities import Capability

CAPABILITY = Capability(name="tensorboard", summary="a second capability of that name (tests only)")
