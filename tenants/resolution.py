"""Finding the tenant a request belongs to, before any tenant is in context.

On PostgreSQL the application role cannot see another tenant's rows at all, so the two lookups that must
cross tenants (a presented API key, a user's memberships) go through SECURITY DEFINER functions that
answer exactly that question and nothing more (see the migration). On SQLite, which has no row-level
security, the same questions are asked with the ORM's tenant scoping lifted for that one query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.db import cache_of, note_tenant_set, tenant_version
from core.errors import NotFound
from core.ids import has_prefix
from core.payments.models import CheckoutSession
from tenants import permissions as perms
from tenants.models import ApiKey, KeyKind, KeyMode, Membership, Role, Tenant
from tenants.permissions import Permission
from tenants.service import hash_key


@dataclass(frozen=True)
class KeyOwner:
    tenant_id: str
    key_id: str
    kind: KeyKind
    mode: KeyMode
    #: When the key was revoked (None: not revoked).
    revoked_at: datetime | None = None
    #: When a rolled key stops working (None: it does not expire).
    expires_at: datetime | None = None
    #: What the key may do (every permission, unless it is a restricted key).
    permissions: frozenset[Permission] = perms.ALL

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def refusal(self, now: datetime) -> str | None:
        """Why the key is refused now ("revoked", "expired"), or None while it is usable."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return None


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lookup_key(session: Session, key: str) -> KeyOwner | None:
    """The tenant and state of an API key, revoked and expired ones included (so a use of one can be
    refused *and* audited in its tenant's chain), or None for an unknown key. Looks only at the hash."""
    if not key or len(key) > 200:
        return None
    digest = hash_key(key)
    if _is_postgres(session):
        row = session.execute(
            text(
                "SELECT tenant_id, key_id, kind, mode, revoked_at, expires_at, permissions "
                "FROM kassa_key_owner(:h)"
            ),
            {"h": digest},
        ).first()
    else:
        row = session.execute(
            select(
                ApiKey.tenant_id,
                ApiKey.id,
                ApiKey.kind,
                ApiKey.mode,
                ApiKey.revoked_at,
                ApiKey.expires_at,
                ApiKey.permissions,
            )
            .where(ApiKey.key_hash == digest)
            .execution_options(kassa_unscoped=True)
        ).first()
    if row is None:
        return None
    return KeyOwner(
        tenant_id=row[0],
        key_id=row[1],
        kind=KeyKind(row[2]),
        mode=KeyMode(row[3]),
        revoked_at=_aware(row[4]),
        expires_at=_aware(row[5]),
        permissions=perms.of_key(row[6]),
    )


#: How long a key's lookup may be kept in a process at most (a change to the tenant's keys ends it at once).
KEY_CACHE_SECONDS = 60


def lookup_key_cached(session: Session, key: str, *, bind: Callable[[str], None]) -> KeyOwner | None:
    """`lookup_key`, kept in this process for up to `KEY_CACHE_SECONDS` beside its tenant's cache version
    (core/tenant_cache.py): any change to the tenant's keys (a revocation, a roll, new permissions) moves
    the version in the same transaction, so the next use of the key, in any process, looks it up again
    and a revoked key is refused at once. Binds the key's tenant with `bind` (what the caller does next
    anyway): the round trip that sets it reads the version, so a hit costs no round trip of its own."""
    cache = cache_of(session)
    if cache is None or not key or len(key) > 200:
        return lookup_key(session, key)
    name = ("api_key", hash_key(key))
    entry = cache.peek(name, max_age=KEY_CACHE_SECONDS)
    if entry is not None:
        version, kept = entry
        bind(kept.tenant_id)
        if tenant_version(session) == version:
            return kept  # type: ignore[no-any-return]
    owner = lookup_key(session, key)
    if owner is None:
        return None
    bind(owner.tenant_id)
    now_version = tenant_version(session)
    if now_version is not None:
        cache.put(name, now_version, owner)
    return owner


def owner_of_key(session: Session, key: str, *, now: datetime) -> KeyOwner | None:
    """The tenant of a key usable at `now` (not revoked, not past a roll's overlap), or None."""
    owner = lookup_key(session, key)
    return owner if owner is not None and owner.usable_at(now) else None


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def memberships_of(session: Session, user_id: str) -> list[tuple[str, Role]]:
    """(tenant_id, role) for every tenant the user belongs to, oldest membership first."""
    if _is_postgres(session):
        rows = session.execute(
            text("SELECT tenant_id, role FROM kassa_memberships_of(:u)"), {"u": user_id}
        ).all()
    else:
        rows = session.execute(
            select(Membership.tenant_id, Membership.role)
            .where(Membership.user_id == user_id)
            .order_by(Membership.created_at)
            .execution_options(kassa_unscoped=True)
        ).all()
    return [(row[0], Role(row[1])) for row in rows]


def tenant_of_checkout_session(session: Session, session_id: str) -> str | None:
    """The tenant whose checkout session this is (the hosted page's only key), or None. On PostgreSQL the
    found tenant is set for the rest of the transaction in the same round trip: bind it next (free)."""
    if not has_prefix(session_id, "cs"):
        return None
    if _is_postgres(session):
        # One round trip: the lookup, and (when it finds the session) the tenant set for the rest of the
        # transaction, which is what every caller does next (bind it), with its cache version
        # (core/tenant_cache.py).
        row = session.execute(
            text(
                "SELECT t, CASE WHEN t IS NOT NULL THEN set_config('app.tenant_id', t, true) END, "
                "(SELECT cache_version FROM tenants WHERE id = t) "
                "FROM (SELECT kassa_checkout_session_tenant(:s) AS t) AS found"
            ),
            {"s": session_id},
        ).first()
        if row is None or not row[0]:
            return None
        note_tenant_set(session, str(row[0]), cache_version=None if row[2] is None else int(row[2]))
        return str(row[0])
    return session.scalar(
        select(CheckoutSession.tenant_id)
        .where(CheckoutSession.id == session_id)
        .execution_options(kassa_unscoped=True)
    )


def checkout_session_and_tenant(session: Session, session_id: str) -> tuple[CheckoutSession, Tenant]:
    """The bound tenant's checkout session and its tenant, read in one SELECT. NotFound as `sessions.get`."""
    row = session.execute(
        select(CheckoutSession, Tenant)
        .join(Tenant, Tenant.id == CheckoutSession.tenant_id)
        .where(CheckoutSession.id == session_id)
    ).first()
    if row is None:
        raise NotFound(f"No such checkout session: {session_id!r}.", param="id")
    return row[0], row[1]
