"""The signed-in portal user: who they are and which tenant they act for.

Resumed on every request from the server-side session (tenants/portal_sessions.py) whose token is the
only thing the session cookie holds once signed in: a revoked, idle or too old session is no session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from flask import Request, g, session
from flask_login import UserMixin
from sqlalchemy import select

from core.context import ActorType, Context
from core.web.request import actor, bind_tenant, context, runtime, uow
from tenants import portal_sessions, team
from tenants.models import Membership, Role, User
from tenants.permissions import Permission, permissions_of

#: The key of the server-side session's token in Flask's (signed) session cookie.
SESSION_KEY: Final = "sid"
#: Endpoints the browser calls by itself, which do not count as activity for the idle timeout.
BACKGROUND_ENDPOINTS: Final = frozenset({"portal.notification_bell"})


@dataclass
class PortalUser(UserMixin):  # type: ignore[misc]
    id: str
    email: str
    tenant_id: str
    role: Role
    #: The member's custom role (tenants/team.py): its name and permissions replace the built-in role's.
    custom_role: str | None = None
    custom_permissions: frozenset[Permission] | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.custom_permissions is not None:
            return self.custom_permissions
        return permissions_of(self.role)

    @property
    def role_name(self) -> str:
        return self.custom_role or str(self.role)

    def can(self, permission: str) -> bool:
        """For templates: `current_user.can('payments:refund')` hides what the user may not do."""
        return permission in {p.value for p in self.permissions}


def load_from_request(_request: Request) -> PortalUser | None:
    """flask-login's request loader: the user of a session that still holds, if still enabled and
    still a member of the session's tenant."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    db = uow().session
    # The bell's poll (htmx, every BELL_POLL_SECONDS) is not the member's activity: an idle session still
    # ends after its 15 minutes with the page left open.
    polled = _request.endpoint in BACKGROUND_ENDPOINTS
    active = portal_sessions.resume(db, token=token, clock=runtime().clock, touch=not polled)
    if active is None:
        session.pop(SESSION_KEY, None)
        return None
    bind_tenant(active.tenant_id)
    user = db.get(User, active.user_id)
    if user is None or user.disabled:
        return None
    membership = db.scalar(select(Membership).where(Membership.user_id == user.id))
    if membership is None:
        return None
    # The date filters (core/web/templating.py) show this person's moments in their own zone.
    g.time_zone = user.time_zone or "UTC"
    if membership.custom_role_id is not None:
        return PortalUser(
            id=user.id,
            email=user.email,
            tenant_id=active.tenant_id,
            role=membership.role,
            custom_role=team.role_name(db, membership),
            custom_permissions=team.permissions_of(db, membership),
        )
    return PortalUser(id=user.id, email=user.email, tenant_id=active.tenant_id, role=membership.role)


def user_context() -> Context:
    """The call edge of this portal request, acting as the signed-in user."""
    from flask_login import current_user

    return context(actor(ActorType.USER, current_user.id))
