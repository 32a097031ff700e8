"""Permissions as data: the catalogue, the roles as sets of permissions, and the one check.

Every portal and API route declares the permission it needs in its route table (portal/views/blueprint.py,
portal/api/blueprint.py) or says it is public (core/web/access.py); the dispatcher checks the caller's
permissions before the handler runs and answers 403 otherwise. A route that declares nothing fails
tests/test_route_permissions.py, and is refused at run time (403) rather than served.

A portal user holds their role's permissions; an API key holds every permission of its mode, unless it
is a restricted key, which holds the subset stored with it (`api_keys.permissions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final, Protocol

from core.errors import InvalidInput
from tenants.models import Role


class Permission(StrEnum):
    #: See payments, checkout sessions, refunds, events, payment links, settings and locality rules.
    PAYMENTS_READ = "payments:read"
    #: Refund a payment.
    PAYMENTS_REFUND = "payments:refund"
    #: Take payments: create and expire checkout sessions and payment links, capture or cancel an
    #: authorized payment.
    PAYMENTS_CAPTURE = "payments:capture"
    #: Change the checkout settings, the business profile, the risk thresholds and block list, and the
    #: locality rules (the portal's settings screens, docs/operations.md "Portal settings").
    SETTINGS_WRITE = "settings:write"
    #: Invite, remove and change the role of members (the portal's team pages).
    TEAM_MANAGE = "team:manage"
    #: List, roll and revoke API keys.
    API_KEYS_MANAGE = "api_keys:manage"
    #: Add, change and replay webhook endpoints.
    WEBHOOKS_MANAGE = "webhooks:manage"
    #: Read reports.
    REPORTS_READ = "reports:read"
    #: Read the balance, balance transactions and payouts.
    PAYOUTS_READ = "payouts:read"
    #: Create payouts and change the payout schedule.
    PAYOUTS_MANAGE = "payouts:manage"
    #: Read the audit trail.
    AUDIT_READ = "audit:read"
    #: Approve or decline what needs a second person (four-eyes).
    APPROVALS_DECIDE = "approvals:decide"
    #: See the platform's operations status (queues, failed jobs, workers, outbox, replica lag, recent
    #: errors). Operator permissions: they mean something only in an operator tenant
    #: (`KASSA_OPERATOR_TENANTS`, Kassa's own staff tenant, never a merchant's); anywhere else the
    #: operations pages do not exist (404). Owners and admins hold them; an operator tenant can give an
    #: on-call custom role only these.
    OPERATIONS_READ = "operations:read"
    #: Retry failed jobs (one, or every failed job of a queue) from the operations page: an operator
    #: permission, like operations:read.
    OPERATIONS_MANAGE = "operations:manage"


ALL: Final = frozenset(Permission)

#: What each role may do (docs/security.md "Roles and permissions" explains the choices).
ROLE_PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    Role.OWNER: ALL,
    # Everything an owner can; what stays the owner's (changing who owns the account) is a rule of the
    # team operations, not a permission.
    Role.ADMIN: ALL,
    Role.DEVELOPER: frozenset(
        {
            Permission.PAYMENTS_READ,
            Permission.SETTINGS_WRITE,
            Permission.API_KEYS_MANAGE,
            Permission.WEBHOOKS_MANAGE,
        }
    ),
    Role.ANALYST: frozenset({Permission.PAYMENTS_READ, Permission.REPORTS_READ, Permission.PAYOUTS_READ}),
    Role.SUPPORT: frozenset({Permission.PAYMENTS_READ, Permission.PAYMENTS_REFUND}),
    Role.VIEWER: frozenset({Permission.PAYMENTS_READ}),
}


class Principal(Protocol):
    """Whoever acts: a portal user (their role's permissions) or an API caller (its key's)."""

    @property
    def permissions(self) -> frozenset[Permission]: ...


def permissions_of(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def can(principal: Principal | Role, permission: Permission) -> bool:
    held = permissions_of(principal) if isinstance(principal, Role) else principal.permissions
    return permission in held


def parse(values: Iterable[str], *, param: str = "permissions") -> frozenset[Permission]:
    """A set of permissions from their names; an unknown name is refused, naming the catalogue."""
    chosen: set[Permission] = set()
    for value in values:
        try:
            chosen.add(Permission(value.strip()))
        except ValueError:
            names = ", ".join(p.value for p in Permission)
            raise InvalidInput(f"Unknown permission {value!r}; one of: {names}.", param=param) from None
    if not chosen:
        raise InvalidInput("Name at least one permission.", param=param)
    return frozenset(chosen)


def of_key(stored: object) -> frozenset[Permission]:
    """What a key holds: every permission (null: a full secret key), or the stored subset. A stored name
    Kassa no longer knows grants nothing (fail closed)."""
    if stored is None:
        return ALL
    if not isinstance(stored, list):
        return frozenset()
    return frozenset(Permission(v) for v in stored if isinstance(v, str) and v in set(Permission))


def stored(permissions: frozenset[Permission] | None) -> list[str] | None:
    """The column's value: null for every permission, else the sorted names."""
    if permissions is None or permissions == ALL:
        return None
    return sorted(p.value for p in permissions)
