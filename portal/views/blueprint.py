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
from tenants.permissions import Permission as P
from tenants.permissions import can

bp = Blueprint("portal", __name__, url_prefix="/portal")


@dataclass(frozen=True)
class PortalRoute:
    rule: str
    endpoint: str
    view: Callable[..., Any]
    #: PUBLIC, SIGNED_IN, OWNER or the Permission the member's role must hold.
    access: str
    methods: tuple[str, ...] = ("GET",)


def get(rule: str, endpoint: str, view: Callable[..., Any], access: str) -> PortalRoute:
    """A page: GET only."""
    return PortalRoute(rule, endpoint, view, access)


def post(rule: str, endpoint: str, view: Callable[..., Any], access: str) -> PortalRoute:
    """A form's or a button's target: POST only (the view redirects, or answers with the form's errors)."""
    return PortalRoute(rule, endpoint, view, access, ("POST",))


def get_post(rule: str, endpoint: str, view: Callable[..., Any], access: str) -> PortalRoute:
    """A page with its own form: GET shows it, POST submits it."""
    return PortalRoute(rule, endpoint, view, access, ("GET", "POST"))


ROUTES: list[PortalRoute] = [
    get_post("/login", "login", auth.login, PUBLIC),
    get_post("/login/code", "login_code", auth.login_code, PUBLIC),
    get_post("/login/recovery", "login_recovery", auth.login_recovery, PUBLIC),
    get_post("/login/enroll", "enroll", auth.enroll, PUBLIC),
    get_post("/forgot-password", "forgot_password", auth.forgot_password, PUBLIC),
    get_post("/reset/<token>", "reset_password", auth.reset_password, PUBLIC),
    post("/logout", "logout", auth.logout, PUBLIC),
    post("/logout/everywhere", "logout_everywhere", auth.logout_everywhere, SIGNED_IN),
    get_post("/sso", "sso_choose", sso.choose, PUBLIC),
    get("/sso/start/<slug>", "sso_start", sso.start, PUBLIC),
    get("/sso/callback", "sso_callback", sso.callback, PUBLIC),
    get("/account", "account", account.account, SIGNED_IN),
    post("/account/password", "change_password", account.change_password, SIGNED_IN),
    post("/account/time-zone", "time_zone", account.change_time_zone, SIGNED_IN),
    get_post("/account/totp", "reenroll", account.reenroll, SIGNED_IN),
    post("/account/recovery-codes", "regenerate_codes", account.regenerate_codes, SIGNED_IN),
    post("/account/sessions/<session_id>/revoke", "revoke_session", account.revoke_session, SIGNED_IN),
    get("/", "home", dashboard.home, SIGNED_IN),
    post("/mode", "switch_mode", modes.switch_mode, SIGNED_IN),
    get("/audit", "audit", audit.audit_list, P.AUDIT_READ),
    get("/audit/export.csv", "audit_export", audit.audit_export, P.AUDIT_READ),
    post("/audit/verify", "audit_verify", audit.audit_verify, P.AUDIT_READ),
    get("/audit/<event_id>", "audit_event", audit.audit_event, P.AUDIT_READ),
    get("/payments", "payments", payments.payment_list, P.PAYMENTS_READ),
    get("/payments.csv", "payments_csv", payments.payments_csv, P.PAYMENTS_READ),
    get("/payments/<payment_id>", "payment", payments.payment_detail, P.PAYMENTS_READ),
    post("/payments/<payment_id>/refund", "refund", payments.refund, P.PAYMENTS_REFUND),
    # Locality rules (core/locality/versions.py): everyone who sees payments sees the rules; changing
    # them is a checkout setting.
    get("/locality", "locality", locality.editor, P.PAYMENTS_READ),
    get("/locality/dry-run", "locality_dry_run", locality.dry_run, P.PAYMENTS_READ),
    *(
        post(f"/locality/draft/{name}", f"locality_{name}", view, P.SETTINGS_WRITE)
        for name, view in (
            ("rule", locality.save_rule),
            ("remove", locality.remove_rule),
            ("publish", locality.publish),
            ("discard", locality.discard),
        )
    ),
    get("/locality/versions/<version_id>", "locality_version", locality.version_detail, P.PAYMENTS_READ),
    post("/locality/versions/<version_id>/restore", "locality_restore", locality.restore, P.SETTINGS_WRITE),
    post("/locality/versions/<version_id>/cancel", "locality_cancel", locality.cancel, P.SETTINGS_WRITE),
    get("/balance", "balance", payouts.balance, P.PAYOUTS_READ),
    get("/payouts", "payouts", payouts.payout_list, P.PAYOUTS_READ),
    post("/payouts/new", "create_payout", payouts.create_payout, P.PAYOUTS_MANAGE),
    get("/payouts/settings", "payout_settings", payouts.settings, P.PAYOUTS_READ),
    post("/payouts/settings/schedule", "save_schedule", payouts.save_schedule, P.PAYOUTS_MANAGE),
    post("/payouts/settings/bank_account", "save_bank_account", payouts.save_bank_account, P.PAYOUTS_MANAGE),
    get("/payouts/<payout_id>", "payout", payouts.payout_detail, P.PAYOUTS_READ),
    get("/payouts/<payout_id>/transactions.csv", "payout_csv", payouts.payout_csv, P.PAYOUTS_READ),
    get("/reconciliation", "reconciliation", payouts.reconciliation_results, P.PAYOUTS_READ),
    post(
        "/reconciliation/upload", "upload_settlement_file", payouts.upload_settlement_file, P.PAYOUTS_MANAGE
    ),
    get("/disputes", "disputes", payouts.dispute_list, P.PAYMENTS_READ),
    get("/disputes/<dispute_id>", "dispute", payouts.dispute_detail, P.PAYMENTS_READ),
    post("/disputes/<dispute_id>/evidence", "dispute_evidence", payouts.submit_evidence, P.PAYMENTS_REFUND),
    get("/webhooks", "webhooks", webhooks.endpoint_list, P.WEBHOOKS_MANAGE),
    post("/webhooks", "webhook_create", webhooks.endpoint_create, P.WEBHOOKS_MANAGE),
    get("/webhooks/<endpoint_id>", "webhook", webhooks.endpoint_detail, P.WEBHOOKS_MANAGE),
    *(
        post(f"/webhooks/<endpoint_id>/{name}", f"webhook_{name}", view, P.WEBHOOKS_MANAGE)
        for name, view in (
            ("test", webhooks.send_test),
            ("roll", webhooks.roll_secret),
            ("enable", webhooks.enable),
            ("disable", webhooks.disable),
            ("replay", webhooks.replay),
        )
    ),
    post(
        "/webhooks/<endpoint_id>/deliveries/<delivery_id>/resend",
        "webhook_resend",
        webhooks.resend,
        P.WEBHOOKS_MANAGE,
    ),
    post("/payments/<payment_id>/capture", "capture", payments.capture, P.PAYMENTS_CAPTURE),
    post("/payments/<payment_id>/cancel", "cancel", payments.cancel, P.PAYMENTS_CAPTURE),
    # Sending a receipt again is customer service, as a refund is: the roles that may refund may resend.
    post("/payments/<payment_id>/receipt", "resend_receipt", payments.resend_receipt, P.PAYMENTS_REFUND),
    get("/refunds", "refunds", refunds.refund_list, P.PAYMENTS_READ),
    get("/refunds/<refund_id>", "refund_detail", refunds.refund_detail, P.PAYMENTS_READ),
    get("/checkout-sessions", "checkout_sessions", refunds.session_list, P.PAYMENTS_READ),
    get("/checkout-sessions/<session_id>", "checkout_session", refunds.session_detail, P.PAYMENTS_READ),
    # A member's own notifications: who receives what was decided by role when each was made.
    get("/notifications", "notifications", notifications.notification_list, SIGNED_IN),
    # The header bell's htmx poll (not counted as activity for the session's idle timeout).
    get("/notifications/bell", "notification_bell", notifications.bell, SIGNED_IN),
    post("/notifications/<recipient_id>/read", "notification_read", notifications.mark_read, SIGNED_IN),
    post("/notifications/read-all", "notifications_read_all", notifications.mark_all_read, SIGNED_IN),
    get_post("/notifications/preferences", "notification_preferences", notifications.preferences, SIGNED_IN),
    # The tenant's own alert thresholds (a tenant setting, shown on the preferences page).
    post(
        "/notifications/alert-thresholds",
        "alert_thresholds",
        notifications.alert_thresholds,
        P.SETTINGS_WRITE,
    ),
    get("/operations", "operations", operations.operations_status, P.OPERATIONS_READ),
    post("/operations/failed/retry", "operations_retry_job", operations.retry_job, P.OPERATIONS_MANAGE),
    post(
        "/operations/failed/retry-all", "operations_retry_queue", operations.retry_queue, P.OPERATIONS_MANAGE
    ),
    # Settings (portal/views/settings.py): every member who sees payments sees them; settings:write changes.
    get("/settings", "settings", settings.index, P.PAYMENTS_READ),
    get("/settings/business", "settings_business", settings.business, P.PAYMENTS_READ),
    post("/settings/business", "settings_business_save", settings.save_business, P.SETTINGS_WRITE),
    get("/settings/branding", "settings_branding", settings.branding, P.PAYMENTS_READ),
    post("/settings/branding", "settings_branding_save", settings.save_branding, P.SETTINGS_WRITE),
    get("/settings/branding/preview.css", "settings_preview_css", settings.preview_css, P.PAYMENTS_READ),
    get("/settings/branding/logo", "settings_logo", settings.logo, P.PAYMENTS_READ),
    get("/settings/checkout", "settings_checkout", settings.checkout, P.PAYMENTS_READ),
    post("/settings/checkout", "settings_checkout_save", settings.save_checkout, P.SETTINGS_WRITE),
    get("/settings/risk", "settings_risk", settings.risk_settings, P.PAYMENTS_READ),
    post("/settings/risk", "settings_risk_save", settings.save_risk, P.SETTINGS_WRITE),
    post("/settings/risk/blocks", "settings_block_add", settings.add_block, P.SETTINGS_WRITE),
    post(
        "/settings/risk/blocks/<block_id>/remove",
        "settings_block_remove",
        settings.remove_block,
        P.SETTINGS_WRITE,
    ),
    # Who may sign in, and how: a team setting (a developer's settings:write must not reroute sign-ins).
    get_post("/settings/sso", "sso_settings", sso.settings_page, P.TEAM_MANAGE),
    get("/reports", "reports", reports.reports_page, P.REPORTS_READ),
    get("/reports/shoppers", "reports_shoppers", reports.reports_shoppers, P.REPORTS_READ),
    get("/reports/export/<kind>.csv", "report_export", reports.report_export, P.REPORTS_READ),
    # Scheduled exports (core/reports/schedules.py); the emailed link is public: its signature is the
    # credential, for one file, one recipient who may still read reports, until it expires.
    get_post("/reports/schedules", "report_schedules", report_schedules.schedules_page, P.REPORTS_READ),
    post(
        "/reports/schedules/<schedule_id>/delete",
        "report_schedule_delete",
        report_schedules.schedule_delete,
        P.REPORTS_READ,
    ),
    get("/reports/download/<token>", "report_download", report_schedules.download, PUBLIC),
    # Team (tenants/team.py): members, invitations, custom roles; accepting an invitation is public (the
    # link's token is the credential), switching tenant is any member's.
    get("/team", "team", team.team_page, P.TEAM_MANAGE),
    post("/team/invite", "invite", team.invite, P.TEAM_MANAGE),
    post("/team/members/<membership_id>/role", "member_role", team.change_role, P.TEAM_MANAGE),
    post("/team/members/<membership_id>/remove", "member_remove", team.remove_member, P.TEAM_MANAGE),
    post(
        "/team/invitations/<invitation_id>/revoke", "invitation_revoke", team.revoke_invitation, P.TEAM_MANAGE
    ),
    get("/team/roles", "roles", team.roles_page, P.TEAM_MANAGE),
    get_post("/team/roles/new", "role_new", team.role_edit, P.TEAM_MANAGE),
    get_post("/team/roles/<role_id>", "role_edit", team.role_edit, P.TEAM_MANAGE),
    post("/team/roles/<role_id>/delete", "role_delete", team.role_delete, P.TEAM_MANAGE),
    get_post("/invitations/<token>", "accept_invitation", team.accept, PUBLIC),
    post("/switch-tenant", "switch_tenant", team.switch_tenant, SIGNED_IN),
    # API keys (tenants/api_keys.py, the API's own operations).
    get("/api-keys", "api_keys", keys.keys_page, P.API_KEYS_MANAGE),
    post("/api-keys/new", "api_key_create", keys.create_key, P.API_KEYS_MANAGE),
    post("/api-keys/<key_id>/roll", "api_key_roll", keys.roll_key, P.API_KEYS_MANAGE),
    post("/api-keys/<key_id>/revoke", "api_key_revoke", keys.revoke_key, P.API_KEYS_MANAGE),
    # Four-eyes approvals (tenants/approvals.py): who sees and decides a request is the operation's rule
    # (its kind's permission, approvals:decide, never the requester), checked again on every decision.
    get("/approvals", "approvals", approvals.approvals_page, SIGNED_IN),
    get_post("/approvals/settings", "approval_policy", approvals.policy_page, OWNER),
    get("/approvals/<request_id>", "approval", approvals.approval_detail, SIGNED_IN),
    post("/approvals/<request_id>/decide", "approval_decide", approvals.decide, P.APPROVALS_DECIDE),
    post("/approvals/<request_id>/cancel", "approval_cancel", approvals.cancel, SIGNED_IN),
]


def guarded(route: PortalRoute) -> Callable[..., Any]:
    """The view behind its access step: sign-in for anything not public, then the permission."""
    if route.access == PUBLIC:
        return declare(route.view, PUBLIC)
    owners_only = route.access == OWNER
    permission = None if route.access in (SIGNED_IN, OWNER) else P(route.access)

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
