"""A module named as a plug-in that has no CAPABILITY."""

CAPABILITY = "not a descriptor"
