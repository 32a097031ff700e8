"""Reading tenants (a global table: a tenant's own row is not tenant-scoped)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.errors import NotFound
from tenants.models import Tenant


def tenant_by_ref(session: Session, ref: str) -> Tenant:
    """A tenant by slug or id, for operators' CLI commands."""
    tenant = session.scalar(
        select(Tenant).where(or_(Tenant.slug == ref.strip().lower(), Tenant.id == ref.strip()))
    )
    if tenant is None:
        raise NotFound(
            f"No tenant with slug or id {ref!r}; list them with `kassa tenants list`.", param="tenant"
        )
    return tenant


def tenant_by_id(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


def all_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.created_at)))


def actor_names(session: Session, actor_ids: Iterable[str]) -> dict[str, str]:
    """What the audit screen shows for actors: a user's email, an API key's display (`sk_test_…abcd`),
    for the ids among `actor_ids` that are users or keys of the current tenant; others are shown as is."""
    from tenants.models import ApiKey, User

    ids = set(actor_ids)
    users = [i for i in ids if i.startswith("usr_")]
    keys = [i for i in ids if i.startswith("key_")]
    names: dict[str, str] = {}
    if users:
        names.update(
            (row[0], row[1]) for row in session.execute(select(User.id, User.email).where(User.id.in_(users)))
        )
    if keys:
        names.update(
            (row[0], row[1])
            for row in session.execute(select(ApiKey.id, ApiKey.display).where(ApiKey.id.in_(keys)))
        )
    return names


def user_id_by_email(session: Session, email: str) -> str | None:
    """The id of the person with this email who acted in the current tenant's audit trail (a member, or
    one who was); None for anyone else: users are global, and another tenant's member's id (or whether
    the address has a Kassa account at all) is not the current tenant's to learn."""
    from core.audit.models import AuditEvent
    from tenants.models import User

    acted = select(AuditEvent.id).where(AuditEvent.actor_id == User.id).exists()  # tenant-scoped
    return session.scalar(select(User.id).where(User.email == email.strip().lower(), acted))
