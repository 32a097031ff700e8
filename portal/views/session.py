"""The signed-in portal user: who they are and which tenant they act for."""

from __future__ import annotations

from dataclasses import dataclass

from flask import session
from flask_login import UserMixin
from sqlalchemy import select

from core.web.request import bind_tenant, uow
from tenants.models import Membership, Role, User


@dataclass
class PortalUser(UserMixin):  # type: ignore[misc]
    id: str
    email: str
    tenant_id: str
    role: Role


def load_user(user_id: str) -> PortalUser | None:
    """flask-login's loader: the user, if still enabled and still a member of the session's tenant."""
    tenant_id = session.get("tenant_id")
    if not tenant_id:
        return None
    bind_tenant(tenant_id)
    db = uow().session
    user = db.get(User, user_id)
    if user is None or user.disabled:
        return None
    membership = db.scalar(select(Membership).where(Membership.user_id == user_id))
    if membership is None:
        return None
    return PortalUser(id=user.id, email=user.email, tenant_id=tenant_id, role=membership.role)
