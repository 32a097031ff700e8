"""Reading tenants (a global table: a tenant's own row is not tenant-scoped)."""

from __future__ import annotations

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
