"""The signed-in user as the rest of the code sees them."""

from __future__ import annotations

from dataclasses import dataclass

from telehealth.accounts.models import STAFF_ROLES, Role


@dataclass(frozen=True)
class Principal:
    """Who is calling: user, roles, facility, and how they authenticated."""

    user_id: str
    username: str
    full_name: str
    roles: frozenset[Role]
    facility_id: str | None
    session_id: str
    via: str  # "cookie" | "bearer"
    locale: str | None = None

    def has(self, *roles: Role) -> bool:
        """True if the user holds any of `roles`."""
        return not self.roles.isdisjoint(roles)

    @property
    def is_staff(self) -> bool:
        """Clinicians, coordinators and admins (not patients or trainees alone)."""
        return not self.roles.isdisjoint(STAFF_ROLES)
