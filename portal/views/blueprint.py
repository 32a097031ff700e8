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
from portal import mode
from portal.views import (
    account,
    approvals,
    audit,
    auth,
    dashboard,
    keys,
    locality,
    modes,
    notifications,
    operations,
    payments,
    payouts,
    refunds,
    report_schedules,
    reports,
    settings,
    sso,
    team,
    webhooks,
)
from portal.views.forms import LogoutForm, ModeForm
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
    PortalRoute("/login/recovery", "login_recovery", auth.login_recovery, PUBLIC, ("GET", "POST")),
    PortalRoute("/login/enroll", "enroll", auth.enroll, PUBLIC, ("GET", "POST")),
    PortalRoute("/forgot-password", "forgot_password", auth.forgot_password, PUBLIC, ("GET", "POST")),
    PortalRoute("/reset/<token>", "reset_password", auth.reset_password, PUBLIC, ("GET", "POST")),
    PortalRoute("/logout", "logout", auth.logout, PUBLIC, ("POST",)),
    PortalRoute("/logout/everywhere", "logout_everywhere", auth.logout_everywhere, SIGNED_IN, ("POST",)),
    PortalRoute("/sso", "sso_choose", sso.choose, PUBLIC, ("GET", "POST")),
    PortalRoute("/sso/start/<slug>", "sso_start", sso.start, PUBLIC),
    PortalRoute("/sso/callback", "sso_callback", sso.callback, PUBLIC),
    PortalRoute("/account", "account", account.account, SIGNED_IN),
    PortalRoute("/account/password", "change_password", account.change_password, SIGNED_IN, ("POST",)),
    PortalRoute("/account/time-zone", "time_zone", account.change_time_zone, SIGNED_IN, ("POST",)),
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
    PortalRoute("/mode", "switch_mode", modes.switch_mode, SIGNED_IN, ("POST",)),
    PortalRoute("/audit", "audit", audit.audit_list, Permission.AUDIT_READ),
    PortalRoute("/audit/export.csv", "audit_export", audit.audit_export, Permission.AUDIT_READ),
    PortalRoute("/audit/verify", "audit_verify", audit.audit_verify, Permission.AUDIT_READ, ("POST",)),
    PortalRoute("/audit/<event_id>", "audit_event", audit.audit_event, Permission.AUDIT_READ),
    PortalRoute("/payments", "payments", payments.payment_list, Permission.PAYMENTS_READ),
    PortalRoute("/payments.csv", "payments_csv", payments.payments_csv, Permission.PAYMENTS_READ),
    PortalRoute("/payments/<payment_id>", "payment", payments.payment_detail, Permission.PAYMENTS_READ),
    PortalRoute(
        "/payments/<payment_id>/refund",
        "refund",
        payments.refund,
        Permission.PAYMENTS_REFUND,
        ("POST",),
    ),
    # Locality rules (core/locality/versions.py): everyone who sees payments sees the rules; changing
    # them is a checkout setting.
    PortalRoute("/locality", "locality", locality.editor, Permission.PAYMENTS_READ),
    PortalRoute("/locality/dry-run", "locality_dry_run", locality.dry_run, Permission.PAYMENTS_READ),
    *(
        PortalRoute(f"/locality/draft/{name}", f"locality_{name}", view, Permission.SETTINGS_WRITE, ("POST",))
        for name, view in (
            ("rule", locality.save_rule),
            ("remove", locality.remove_rule),
            ("publish", locality.publish),
            ("discard", locality.discard),
        )
    ),
    PortalRoute(
        "/locality/versions/<version_id>",
        "locality_version",
        locality.version_detail,
        Permission.PAYMENTS_READ,
    ),
    PortalRoute(
        "/locality/versions/<version_id>/restore",
        "locality_restore",
        locality.restore,
        Permission.SETTINGS_WRITE,
        ("POST",),
    ),
    PortalRoute(
        "/locality/versions/<version_id>/cancel",
        "locality_cancel",
        locality.cancel,
        Permission.SETTINGS_WRITE,
        ("POST",),
    ),
    PortalRoute("/balance", "balance", payouts.balance, Permission.PAYOUTS_READ),
    PortalRoute("/payouts", "payouts", payouts.payout_list, Permission.PAYOUTS_READ),
    PortalRoute("/payouts/new", "create_payout", payouts.create_payout, Permission.PAYOUTS_MANAGE, ("POST",)),
    PortalRoute("/payouts/settings", "payout_settings", payouts.settings, Permission.PAYOUTS_READ),
    PortalRoute(
        "/payouts/settings/schedule",
        "save_schedule",
        payouts.save_schedule,
        Permission.PAYOUTS_MANAGE,
        ("POST",),
    ),
    PortalRoute(
        "/payouts/settings/bank_account",
        "save_bank_account",
        payouts.save_bank_account,
        Permission.PAYOUTS_MANAGE,
        ("POST",),
    ),
    PortalRoute("/payouts/<payout_id>", "payout", payouts.payout_detail, Permission.PAYOUTS_READ),
    PortalRoute(
        "/payouts/<payout_id>/transactions.csv", "payout_csv", payouts.payout_csv, Permission.PAYOUTS_READ
    ),
    PortalRoute("/reconciliation", "reconciliation", payouts.reconciliation_results, Permission.PAYOUTS_READ),
    PortalRoute(
        "/reconciliation/upload",
        "upload_settlement_file",
        payouts.upload_settlement_file,
        Permission.PAYOUTS_MANAGE,
        ("POST",),
    ),
    PortalRoute("/disputes", "disputes", payouts.dispute_list, Permission.PAYMENTS_READ),
    PortalRoute("/disputes/<dispute_id>", "dispute", payouts.dispute_detail, Permission.PAYMENTS_READ),
    PortalRoute(
        "/disputes/<dispute_id>/evidence",
        "dispute_evidence",
        payouts.submit_evidence,
        Permission.PAYMENTS_REFUND,
        ("POST",),
    ),
    PortalRoute("/webhooks", "webhooks", webhooks.endpoint_list, Permission.WEBHOOKS_MANAGE),
    PortalRoute(
        "/webhooks", "webhook_create", webhooks.endpoint_create, Permission.WEBHOOKS_MANAGE, ("POST",)
    ),
    PortalRoute("/webhooks/<endpoint_id>", "webhook", webhooks.endpoint_detail, Permission.WEBHOOKS_MANAGE),
    *(
        PortalRoute(
            f"/webhooks/<endpoint_id>/{name}", f"webhook_{name}", view, Permission.WEBHOOKS_MANAGE, ("POST",)
        )
        for name, view in (
            ("test", webhooks.send_test),
            ("roll", webhooks.roll_secret),
            ("enable", webhooks.enable),
            ("disable", webhooks.disable),
            ("replay", webhooks.replay),
        )
    ),
    PortalRoute(
        "/webhooks/<endpoint_id>/deliveries/<delivery_id>/resend",
        "webhook_resend",
        webhooks.resend,
        Permission.WEBHOOKS_MANAGE,
        ("POST",),
    ),
    PortalRoute(
        "/payments/<payment_id>/capture", "capture", payments.capture, Permission.PAYMENTS_CAPTURE, ("POST",)
    ),
    PortalRoute(
        "/payments/<payment_id>/cancel", "cancel", payments.cancel, Permission.PAYMENTS_CAPTURE, ("POST",)
    ),
    # Sending a receipt again is customer service, as a refund is: the roles that may refund may resend.
    PortalRoute(
        "/payments/<payment_id>/receipt",
        "resend_receipt",
        payments.resend_receipt,
        Permission.PAYMENTS_REFUND,
        ("POST",),
    ),
    PortalRoute("/refunds", "refunds", refunds.refund_list, Permission.PAYMENTS_READ),
    PortalRoute("/refunds/<refund_id>", "refund_detail", refunds.refund_detail, Permission.PAYMENTS_READ),
    PortalRoute("/checkout-sessions", "checkout_sessions", refunds.session_list, Permission.PAYMENTS_READ),
    PortalRoute(
        "/checkout-sessions/<session_id>",
        "checkout_session",
        refunds.session_detail,
        Permission.PAYMENTS_READ,
    ),
    # A member's own notifications: who receives what was decided by role when each was made.
    PortalRoute("/notifications", "notifications", notifications.notification_list, SIGNED_IN),
    # The header bell's htmx poll (not counted as activity for the session's idle timeout).
    PortalRoute("/notifications/bell", "notification_bell", notifications.bell, SIGNED_IN),
    PortalRoute(
        "/notifications/<recipient_id>/read",
        "notification_read",
        notifications.mark_read,
        SIGNED_IN,
        ("POST",),
    ),
    PortalRoute(
        "/notifications/read-all", "notifications_read_all", notifications.mark_all_read, SIGNED_IN, ("POST",)
    ),
    PortalRoute(
        "/notifications/preferences",
        "notification_preferences",
        notifications.preferences,
        SIGNED_IN,
        ("GET", "POST"),
    ),
    # The tenant's own alert thresholds (a tenant setting, shown on the preferences page).
    PortalRoute(
        "/notifications/alert-thresholds",
        "alert_thresholds",
        notifications.alert_thresholds,
        Permission.SETTINGS_WRITE,
        ("POST",),
    ),
    PortalRoute("/operations", "operations", operations.operations_status, Permission.OPERATIONS_READ),
    PortalRoute(
        "/operations/failed/retry",
        "operations_retry_job",
        operations.retry_job,
        Permission.OPERATIONS_MANAGE,
        ("POST",),
    ),
    PortalRoute(
        "/operations/failed/retry-all",
        "operations_retry_queue",
        operations.retry_queue,
        Permission.OPERATIONS_MANAGE,
        ("POST",),
    ),
    # Settings (portal/views/settings.py): every member who sees payments sees them; settings:write changes.
    PortalRoute("/settings", "settings", settings.index, Permission.PAYMENTS_READ),
    PortalRoute("/settings/business", "settings_business", settings.business, Permission.PAYMENTS_READ),
    PortalRoute(
        "/settings/business",
        "settings_business_save",
        settings.save_business,
        Permission.SETTINGS_WRITE,
        ("POST",),
    ),
    PortalRoute("/settings/branding", "settings_branding", settings.branding, Permission.PAYMENTS_READ),
    PortalRoute(
        "/settings/branding",
        "settings_branding_save",
        settings.save_branding,
        Permission.SETTINGS_WRITE,
        ("POST",),
    ),
    PortalRoute(
        "/settings/branding/preview.css",
        "settings_preview_css",
        settings.preview_css,
        Permission.PAYMENTS_READ,
    ),
    PortalRoute("/settings/branding/logo", "settings_logo", settings.logo, Permission.PAYMENTS_READ),
    PortalRoute("/settings/checkout", "settings_checkout", settings.checkout, Permission.PAYMENTS_READ),
    PortalRoute(
        "/settings/checkout",
        "settings_checkout_save",
        settings.save_checkout,
        Permission.SETTINGS_WRITE,
        ("POST",),
    ),
    PortalRoute("/settings/risk", "settings_risk", settings.risk_settings, Permission.PAYMENTS_READ),
    PortalRoute(
        "/settings/risk", "settings_risk_save", settings.save_risk, Permission.SETTINGS_WRITE, ("POST",)
    ),
    PortalRoute(
        "/settings/risk/blocks",
        "settings_block_add",
        settings.add_block,
        Permission.SETTINGS_WRITE,
        ("POST",),
    ),
    PortalRoute(
        "/settings/risk/blocks/<block_id>/remove",
        "settings_block_remove",
        settings.remove_block,
        Permission.SETTINGS_WRITE,
        ("POST",),
    ),
    # Who may sign in, and how: a team setting (a developer's settings:write must not reroute sign-ins).
    PortalRoute("/settings/sso", "sso_settings", sso.settings_page, Permission.TEAM_MANAGE, ("GET", "POST")),
    PortalRoute("/reports", "reports", reports.reports_page, Permission.REPORTS_READ),
    PortalRoute("/reports/shoppers", "reports_shoppers", reports.reports_shoppers, Permission.REPORTS_READ),
    PortalRoute(
        "/reports/export/<kind>.csv", "report_export", reports.report_export, Permission.REPORTS_READ
    ),
    # Scheduled exports (core/reports/schedules.py); the emailed link is public: its signature is the
    # credential, for one file, one recipient who may still read reports, until it expires.
    PortalRoute(
        "/reports/schedules",
        "report_schedules",
        report_schedules.schedules_page,
        Permission.REPORTS_READ,
        ("GET", "POST"),
    ),
    PortalRoute(
        "/reports/schedules/<schedule_id>/delete",
        "report_schedule_delete",
        report_schedules.schedule_delete,
        Permission.REPORTS_READ,
        ("POST",),
    ),
    PortalRoute("/reports/download/<token>", "report_download", report_schedules.download, PUBLIC),
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
    context: dict[str, object] = {
        "logout_form": LogoutForm(),
        "mode_form": ModeForm(),
        "livemode": mode.livemode(),
        **team.header_context(),
    }
    if current_user.is_authenticated:
        context["unread_notifications"] = notifications.unread()
        context["bell_poll_seconds"] = notifications.BELL_POLL_SECONDS
        context["operations_link"] = operations.visible()
    return context


for _route in ROUTES:
    bp.add_url_rule(_route.rule, _route.endpoint, guarded(_route), methods=list(_route.methods))
