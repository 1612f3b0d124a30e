"""A workspace's roles (``reader`` < ``contributor`` < ``owner``): a plain enum, light to import (every REST
operation names the least role that may call it; ``kiln.specs.users`` holds the users' models)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    """Ordered: each role may do what the ones before it may."""

    READER = "reader"
    CONTRIBUTOR = "contributor"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank

    def and_above(self) -> str:
        """'contributor or owner': the roles that may do what needs this one."""
        return " or ".join(role.value for role in Role if role.allows(self))
