"""Every portal URL rule, in one readable table, each with who may reach it.

An entry's access is `PUBLIC` (signing in and out), `SIGNED_IN` (any member, for their own account and
the home page) or a permission (tenants/permissions.py): a signed-out visitor is sent to sign in, and a
member whose role lacks the permission gets a 403 page before the view runs. tests/test_route_permissions.py
fails for a rule that declares none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from core.errors import PermissionDenied
from core.web.access import PUBLIC, SIGNED_IN, declare
from portal.views import account, audit, auth, dashboard, payments
from portal.views.forms import LogoutForm
from tenants.permissions import Permission, can

bp = Blueprint("portal", __name__, url_prefix="/portal")


@dataclass(frozen=True)
class PortalRoute:
    rule: str
    endpoint: str
    view: Callable[..., Any]
    #: PUBLIC, SIGNED_IN or the Permission the member's role must hold.
    access: str
    methods: tuple[str, ...] = ("GET",)


ROUTES: list[PortalRoute] = [
    PortalRoute("/login", "login", auth.login, PUBLIC, ("GET", "POST")),
    PortalRoute("/login/code", "login_code", auth.login_code, PUBLIC, ("GET", "POST")),
    PortalRoute("/login/recovery", "login_recovery", auth.login_recovery, PUBLIC, ("GET", "POST")),
    PortalRoute("/login/enroll", "enroll", auth.enroll, PUBLIC, ("GET", "POST")),
    PortalRoute("/forgot-password", "forgot_password", auth.forgot_password, PUBLIC, ("GET", "POST")),
    PortalRoute("/reset/<token>", "reset_password", auth.reset_password, PUBLIC, ("GET", "POST")),
    PortalRoute("/logout", "logout", auth.logout, PUBLIC, ("POST",)),
    PortalRoute("/logout/everywhere", "logout_everywhere", auth.logout_everywhere, SIGNED_IN, ("POST",)),
    PortalRoute("/account", "account", account.account, SIGNED_IN),
    PortalRoute("/account/password", "change_password", account.change_password, SIGNED_IN, ("POST",)),
    PortalRoute("/account/totp", "reenroll", account.reenroll, SIGNED_IN, ("GET", "POST")),
    PortalRoute(
        "/account/recovery-codes", "regenerate_codes", account.regenerate_codes, SIGNED_IN, ("POST",)
    ),
    PortalRoute(
        "/account/sessions/<session_id>/revoke",
        "revoke_session",
        account.revoke_session,
        SIGNED_IN,
        ("POST",),
    ),
    PortalRoute("/", "home", dashboard.home, SIGNED_IN),
    PortalRoute("/audit", "audit", audit.audit_list, Permission.AUDIT_READ),
    PortalRoute("/audit/export.csv", "audit_export", audit.audit_export, Permission.AUDIT_READ),
    PortalRoute("/audit/verify", "audit_verify", audit.audit_verify, Permission.AUDIT_READ, ("POST",)),
    PortalRoute("/audit/<event_id>", "audit_event", audit.audit_event, Permission.AUDIT_READ),
    PortalRoute("/payments", "payments", payments.payment_list, Permission.PAYMENTS_READ),
    PortalRoute("/payments/<payment_id>", "payment", payments.payment_detail, Permission.PAYMENTS_READ),
    PortalRoute(
        "/payments/<payment_id>/refund",
        "refund",
        payments.refund,
        Permission.PAYMENTS_REFUND,
        ("POST",),
    ),
]


def guarded(route: PortalRoute) -> Callable[..., Any]:
    """The view behind its access step: sign-in for anything not public, then the permission."""
    if route.access == PUBLIC:
        return declare(route.view, PUBLIC)
    permission = None if route.access == SIGNED_IN else Permission(route.access)

    @wraps(route.view)
    def view(**kwargs: Any) -> Any:
        if permission is not None and not can(current_user, permission):
            raise PermissionDenied(f"Your role ({current_user.role}) does not allow this ({permission}).")
        return route.view(**kwargs)

    return declare(login_required(view), route.access)


def root() -> Response:
    return redirect(url_for("portal.home"))


declare(root, PUBLIC)


@bp.context_processor
def _portal_context() -> dict[str, object]:
    return {"logout_form": LogoutForm()}


for _route in ROUTES:
    bp.add_url_rule(_route.rule, _route.endpoint, guarded(_route), methods=list(_route.methods))
