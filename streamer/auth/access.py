"""Roles, library access levels and the principal every API request acts as (pure).

Two checks decide every request: the role caps what kind of thing a principal may do
(a viewer only reads, an editor may change the catalogue, an admin may also manage
users, keys and server-wide settings), and the principal's access to the library the
target lives in (none, read, write, manage) decides where. The effective access to a
library is the lower of the two. Admins manage every library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "ACCESS_LEVELS",
    "ROLES",
    "Access",
    "Principal",
    "Role",
    "access_at_least",
]

Role = Literal["admin", "editor", "viewer"]
Access = Literal["none", "read", "write", "manage"]
ROLES: tuple[Role, ...] = get_args(Role)
ACCESS_LEVELS: tuple[Access, ...] = get_args(Access)

_RANK = {level: rank for rank, level in enumerate(ACCESS_LEVELS)}
# The most a role may do in any library, whatever it is granted.
_ROLE_CAP: dict[Role, Access] = {"admin": "manage", "editor": "manage", "viewer": "read"}


def access_at_least(have: Access, want: Access) -> bool:
    return _RANK[have] >= _RANK[want]


def _lower(a: Access, b: Access) -> Access:
    return a if _RANK[a] <= _RANK[b] else b


@dataclass(frozen=True)
class Principal:
    """The caller of an API request: a signed-in user or an API key.

    ``grants`` maps library ids to access; ``None`` means every library (admins, and
    keys not scoped to libraries), capped by the role either way.
    """

    kind: Literal["user", "apikey"]
    id: str
    name: str
    role: Role
    grants: Mapping[str, Access] | None = field(default=None)
    # Cookie sessions must show their CSRF token on writes; bearer keys need not.
    session_id: str | None = None
    csrf_token: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_write(self) -> bool:
        """Whether the role may change anything at all (viewers may not)."""
        return self.role != "viewer"

    def access(self, library_id: str) -> Access:
        cap = _ROLE_CAP[self.role]
        if self.grants is None:
            return cap
        return _lower(cap, self.grants.get(library_id, "none"))

    def allows(self, library_id: str, want: Access) -> bool:
        return access_at_least(self.access(library_id), want)

    def readable_libraries(self) -> frozenset[str] | None:
        """The libraries this principal may read; None means all of them."""
        if self.grants is None:
            return None
        return frozenset(lib for lib in self.grants if self.allows(lib, "read"))
