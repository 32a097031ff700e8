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
from core.web.access import OWNER, PUBLIC, SIGNED_IN, declare
from portal.views import account, approvals, auth, dashboard, keys, payments, team
from portal.views.forms import LogoutForm
from tenants.models import Role
from tenants.permissions import Permission, can

bp = Blueprint("portal", __name__, url_prefix="/portal")


@dataclass(frozen=True)
class PortalRoute:
    rule: str
    endpoint: str
    view: Callable[..., Any]
    #: PUBLIC, SIGNED_IN, OWNER or the Permission the member's role must hold.
    access: str
    methods: tuple[str, ...] = ("GET",)


ROUTES: list[PortalRoute] = [
    PortalRoute("/login", "login", auth.login, PUBLIC, ("GET", "POST")),
    PortalRoute("/login/code", "login_code", auth.login_code, PUBLIC, ("GET", "POST")),
    PortalRoute("/login/enroll", "enroll", auth.enroll, PUBLIC, ("GET", "POST")),
    PortalRoute("/logout", "logout", auth.logout, PUBLIC, ("POST",)),
    PortalRoute("/logout/everywhere", "logout_everywhere", auth.logout_everywhere, SIGNED_IN, ("POST",)),
    PortalRoute("/account", "account", account.account, SIGNED_IN),
    PortalRoute("/", "home", dashboard.home, SIGNED_IN),
    PortalRoute("/payments", "payments", payments.payment_list, Permission.PAYMENTS_READ),
    PortalRoute("/payments/<payment_id>", "payment", payments.payment_detail, Permission.PAYMENTS_READ),
    PortalRoute(
        "/payments/<payment_id>/refund",
        "refund",
        payments.refund,
        Permission.PAYMENTS_REFUND,
        ("POST",),
    ),
    # Team (tenants/team.py): members, invitations, custom roles; accepting an invitation is public (the
    # link's token is the credential), switching tenant is any member's.
    PortalRoute("/team", "team", team.team_page, Permission.TEAM_MANAGE),
    PortalRoute("/team/invite", "invite", team.invite, Permission.TEAM_MANAGE, ("POST",)),
    PortalRoute(
        "/team/members/<membership_id>/role",
        "member_role",
        team.change_role,
        Permission.TEAM_MANAGE,
        ("POST",),
    ),
    PortalRoute(
        "/team/members/<membership_id>/remove",
        "member_remove",
        team.remove_member,
        Permission.TEAM_MANAGE,
        ("POST",),
    ),
    PortalRoute(
        "/team/invitations/<invitation_id>/revoke",
        "invitation_revoke",
        team.revoke_invitation,
        Permission.TEAM_MANAGE,
        ("POST",),
    ),
    PortalRoute("/team/roles", "roles", team.roles_page, Permission.TEAM_MANAGE),
    PortalRoute("/team/roles/new", "role_new", team.role_edit, Permission.TEAM_MANAGE, ("GET", "POST")),
    PortalRoute(
        "/team/roles/<role_id>", "role_edit", team.role_edit, Permission.TEAM_MANAGE, ("GET", "POST")
    ),
    PortalRoute(
        "/team/roles/<role_id>/delete", "role_delete", team.role_delete, Permission.TEAM_MANAGE, ("POST",)
    ),
    PortalRoute("/invitations/<token>", "accept_invitation", team.accept, PUBLIC, ("GET", "POST")),
    PortalRoute("/switch-tenant", "switch_tenant", team.switch_tenant, SIGNED_IN, ("POST",)),
    # API keys (tenants/api_keys.py, the API's own operations).
    PortalRoute("/api-keys", "api_keys", keys.keys_page, Permission.API_KEYS_MANAGE),
    PortalRoute("/api-keys/new", "api_key_create", keys.create_key, Permission.API_KEYS_MANAGE, ("POST",)),
    PortalRoute(
        "/api-keys/<key_id>/roll", "api_key_roll", keys.roll_key, Permission.API_KEYS_MANAGE, ("POST",)
    ),
    PortalRoute(
        "/api-keys/<key_id>/revoke", "api_key_revoke", keys.revoke_key, Permission.API_KEYS_MANAGE, ("POST",)
    ),
    # Four-eyes approvals (tenants/approvals.py): who sees and decides a request is the operation's rule
    # (its kind's permission, approvals:decide, never the requester), checked again on every decision.
    PortalRoute("/approvals", "approvals", approvals.approvals_page, SIGNED_IN),
    PortalRoute("/approvals/settings", "approval_policy", approvals.policy_page, OWNER, ("GET", "POST")),
    PortalRoute("/approvals/<request_id>", "approval", approvals.approval_detail, SIGNED_IN),
    PortalRoute(
        "/approvals/<request_id>/decide",
        "approval_decide",
        approvals.decide,
        Permission.APPROVALS_DECIDE,
        ("POST",),
    ),
    PortalRoute("/approvals/<request_id>/cancel", "approval_cancel", approvals.cancel, SIGNED_IN, ("POST",)),
]


def guarded(route: PortalRoute) -> Callable[..., Any]:
    """The view behind its access step: sign-in for anything not public, then the permission."""
    if route.access == PUBLIC:
        return declare(route.view, PUBLIC)
    owners_only = route.access == OWNER
    permission = None if route.access in (SIGNED_IN, OWNER) else Permission(route.access)

    @wraps(route.view)
    def view(**kwargs: Any) -> Any:
        if owners_only and (current_user.role is not Role.OWNER or current_user.custom_role is not None):
            raise PermissionDenied("Only an owner of the account can do this.")
        if permission is not None and not can(current_user, permission):
            raise PermissionDenied(
                f"Your role ({current_user.role_name}) does not allow this ({permission})."
            )
        return route.view(**kwargs)

    return declare(login_required(view), route.access)


def root() -> Response:
    return redirect(url_for("portal.home"))


declare(root, PUBLIC)


@bp.context_processor
def _portal_context() -> dict[str, object]:
    return {"logout_form": LogoutForm(), **team.header_context()}


for _route in ROUTES:
    bp.add_url_rule(_route.rule, _route.endpoint, guarded(_route), methods=list(_route.methods))
