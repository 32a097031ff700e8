"""The kinds of notification: what each is about, who may see it, and how loud it is.

A member receives a kind only if their role holds the kind's permission (tenants/permissions.py). Core
may not import the tenants layer, so `AUDIENCE` names the roles here; tests/core/test_notifications.py
checks it against `ROLE_PERMISSIONS`, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    PAYOUT_FAILED = "payout_failed"
    WEBHOOK_ENDPOINT_FAILING = "webhook_endpoint_failing"
    DISPUTE_CREATED = "dispute_created"
    APPROVAL_RATE_LOW = "approval_rate_low"
    RISK_BLOCKS_SPIKE = "risk_blocks_spike"
    PROCESSOR_ERRORS_SPIKE = "processor_errors_spike"
    RECONCILIATION_DIFFERENCES = "reconciliation_differences"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Channel(StrEnum):
    PORTAL = "portal"
    EMAIL = "email"


@dataclass(frozen=True)
class KindInfo:
    kind: Kind
    #: What the preferences page calls it.
    label: str
    #: The permission (tenants/permissions.py name) a member's role must hold to receive it.
    permission: str
    severity: Severity


KINDS: Final[dict[Kind, KindInfo]] = {
    info.kind: info
    for info in (
        KindInfo(Kind.PAYOUT_FAILED, "A payout failed", "payouts:read", Severity.CRITICAL),
        KindInfo(
            Kind.WEBHOOK_ENDPOINT_FAILING,
            "A webhook endpoint is failing",
            "webhooks:manage",
            Severity.CRITICAL,
        ),
        KindInfo(Kind.DISPUTE_CREATED, "A payment was disputed", "payments:read", Severity.WARNING),
        KindInfo(Kind.APPROVAL_RATE_LOW, "Approval rate dropped", "payments:read", Severity.WARNING),
        KindInfo(Kind.RISK_BLOCKS_SPIKE, "Risk blocks are spiking", "payments:read", Severity.WARNING),
        KindInfo(
            Kind.PROCESSOR_ERRORS_SPIKE, "Processor errors are spiking", "payments:read", Severity.WARNING
        ),
        KindInfo(
            Kind.RECONCILIATION_DIFFERENCES,
            "A settlement file does not match the ledger",
            "payouts:read",
            Severity.WARNING,
        ),
    )
}

#: The roles (tenants/models.py `Role` values) whose permissions include each permission a kind needs:
#: a copy of tenants/permissions.py `ROLE_PERMISSIONS` restricted to those permissions, checked by a test.
AUDIENCE: Final[dict[str, frozenset[str]]] = {
    "payments:read": frozenset({"owner", "admin", "developer", "analyst", "support", "viewer"}),
    "payouts:read": frozenset({"owner", "admin", "analyst"}),
    "webhooks:manage": frozenset({"owner", "admin", "developer"}),
}


def receives(role: str, kind: Kind) -> bool:
    """Whether a member of `role` may receive notifications of `kind`."""
    return role in AUDIENCE.get(KINDS[kind].permission, frozenset())


def visible_kinds(permissions: frozenset[str]) -> list[KindInfo]:
    """The kinds a holder of `permissions` may receive (the preferences page lists these)."""
    return [info for info in KINDS.values() if info.permission in permissions]
