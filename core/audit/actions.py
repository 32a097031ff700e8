"""Audit action names: constants, so a grep finds every place an action is recorded."""

from typing import Final

TENANT_CREATED: Final = "tenant.created"
USER_CREATED: Final = "user.created"
MEMBERSHIP_CREATED: Final = "membership.created"
API_KEY_CREATED: Final = "api_key.created"
API_KEY_REVOKED: Final = "api_key.revoked"
API_KEY_ROLLED: Final = "api_key.rolled"
#: A revoked key, or a rolled one past its overlap, was presented (and refused with 401).
API_KEY_REFUSED: Final = "api_key.refused"
PORTAL_SIGN_IN: Final = "portal.sign_in"
PORTAL_SIGN_IN_FAILED: Final = "portal.sign_in.failed"
PORTAL_SIGN_OUT: Final = "portal.sign_out"
PORTAL_SIGN_OUT_EVERYWHERE: Final = "portal.sign_out.everywhere"
#: A portal user switched their session between test and live mode (details: from, to).
PORTAL_MODE_SWITCHED: Final = "portal.mode.switched"
USER_LOCKED: Final = "user.locked"
USER_DISABLED: Final = "user.disabled"
USER_ENABLED: Final = "user.enabled"
CHECKOUT_SETTINGS_UPDATED: Final = "checkout.settings.updated"
CHECKOUT_SESSION_CREATED: Final = "checkout.session.created"
CHECKOUT_SESSION_EXPIRED: Final = "checkout.session.expired"
CHECKOUT_SESSION_COMPLETED: Final = "checkout.session.completed"
PAYMENT_CREATED: Final = "payment.created"
PAYMENT_STATUS_CHANGED: Final = "payment.status_changed"
PAYMENT_PROCESSOR_CALLED: Final = "payment.processor.called"
PAYMENT_ACTION_COMPLETED: Final = "payment.action.completed"
PAYMENT_CAPTURED: Final = "payment.captured"
PAYMENT_CANCELED: Final = "payment.canceled"
REFUND_CREATED: Final = "payment.refund.created"
PAYMENT_LINK_CREATED: Final = "payment_link.created"
PAYMENT_LINK_UPDATED: Final = "payment_link.updated"
RECEIPT_QUEUED: Final = "receipt.queued"
RECEIPT_SENT: Final = "receipt.sent"
RECEIPT_FAILED: Final = "receipt.failed"
LOCALITY_RULE_CREATED: Final = "locality_rule.created"
LOCALITY_RULE_UPDATED: Final = "locality_rule.updated"
LOCALITY_RULE_DELETED: Final = "locality_rule.deleted"
#: A version of the locality rules: saved as a draft, changed, scheduled, put in force, restored, discarded.
LOCALITY_VERSION_DRAFTED: Final = "locality_rule_version.drafted"
LOCALITY_VERSION_UPDATED: Final = "locality_rule_version.updated"
LOCALITY_VERSION_SCHEDULED: Final = "locality_rule_version.scheduled"
LOCALITY_VERSION_PUBLISHED: Final = "locality_rule_version.published"
LOCALITY_VERSION_RESTORED: Final = "locality_rule_version.restored"
LOCALITY_VERSION_DISCARDED: Final = "locality_rule_version.discarded"
VAULT_CARDS_PURGED: Final = "vault.cards.purged"
EVENTS_PRUNED: Final = "events.pruned"
VAULT_DATA_KEY_ROTATED: Final = "vault.data_key.rotated"
VAULT_DATA_KEY_DESTROYED: Final = "vault.data_key.destroyed"
BANK_ACCOUNT_ADDED: Final = "bank_account.added"
BANK_ACCOUNT_APPROVED: Final = "bank_account.approved"
#: A held bank account change was declined, withdrawn or expired: the proposed account is never used.
BANK_ACCOUNT_REJECTED: Final = "bank_account.rejected"
PAYOUT_SCHEDULE_UPDATED: Final = "payout.schedule.updated"
PAYOUT_CREATED: Final = "payout.created"
PAYOUT_STATUS_CHANGED: Final = "payout.status_changed"
SETTLEMENT_TERMS_UPDATED: Final = "settlement.terms.updated"
RESERVE_RAISED: Final = "reserve.raised"
DISPUTE_CREATED: Final = "dispute.created"
DISPUTE_EVIDENCE_SUBMITTED: Final = "dispute.evidence.submitted"
DISPUTE_CLOSED: Final = "dispute.closed"
RECONCILIATION_RUN: Final = "reconciliation.run"
WEBHOOK_ENDPOINT_CREATED: Final = "webhook_endpoint.created"
WEBHOOK_ENDPOINT_UPDATED: Final = "webhook_endpoint.updated"
WEBHOOK_ENDPOINT_DELETED: Final = "webhook_endpoint.deleted"
WEBHOOK_SECRET_ROTATED: Final = "webhook_endpoint.secret_rotated"  # noqa: S105  (an action name)
#: Kassa switched an endpoint off (it answered 410 Gone).
WEBHOOK_ENDPOINT_DISABLED: Final = "webhook_endpoint.disabled"
#: A delivery used up every retry (the dead letter); the endpoint is flagged failing.
WEBHOOK_DELIVERY_DEAD: Final = "webhook_delivery.dead"
#: A failing endpoint answered 2xx again.
WEBHOOK_ENDPOINT_RECOVERED: Final = "webhook_endpoint.recovered"
WEBHOOK_DELIVERY_RESENT: Final = "webhook_delivery.resent"
WEBHOOK_ENDPOINT_REPLAYED: Final = "webhook_endpoint.replayed"
WEBHOOK_TEST_SENT: Final = "webhook_endpoint.test_sent"
NOTIFICATION_CREATED: Final = "notification.created"
NOTIFICATION_READ: Final = "notification.read"
NOTIFICATION_READ_ALL: Final = "notification.read_all"
NOTIFICATION_EMAILED: Final = "notification.emailed"
NOTIFICATION_EMAIL_FAILED: Final = "notification.email_failed"
NOTIFICATION_PREFERENCES_UPDATED: Final = "notification.preferences.updated"
ALERT_THRESHOLDS_UPDATED: Final = "notification.alert_thresholds.updated"
#: A tenant's single sign-on provider was created or changed (tenants/sso.py); details name the fields.
SSO_PROVIDER_UPDATED: Final = "sso.provider.updated"
#: A single sign-on attempt was refused (bad state, ID token, email, domain or membership).
SSO_SIGN_IN_FAILED: Final = "portal.sign_in.sso_failed"
REPORT_EXPORTED: Final = "report.exported"
#: An operator put a failed RQ job back on its queue (subject: the job; details: queue, job).
OPERATIONS_JOB_RETRIED: Final = "operations.job.retried"
#: An operator put every failed job of a queue back on it (subject: the queue; details: count).
OPERATIONS_QUEUE_RETRIED: Final = "operations.queue.retried"
#: Scheduled exports (core/reports/schedules.py): made, removed, a file produced by `kassa cron`, its link
#: emailed to one recipient, and the file downloaded through that link.
REPORT_SCHEDULE_CREATED: Final = "report.schedule_created"
REPORT_SCHEDULE_DELETED: Final = "report.schedule_deleted"
REPORT_SCHEDULED_EXPORT_PRODUCED: Final = "report.scheduled_export_produced"
REPORT_EXPORT_EMAILED: Final = "report.export_emailed"
REPORT_EXPORT_DOWNLOADED: Final = "report.export_downloaded"
#: A user confirmed a new TOTP seed (first sign-in, or "Set up a new authenticator app").
USER_TOTP_ENROLLED: Final = "user.totp.enrolled"
#: A set of ten recovery codes was made (enrollment or "Regenerate"); the old set is void.
USER_RECOVERY_CODES_GENERATED: Final = "user.recovery_codes.generated"
#: A recovery code signed a user in instead of an authentication code (and is now used up).
USER_RECOVERY_CODE_USED: Final = "user.recovery_code.used"
USER_PASSWORD_CHANGED: Final = "user.password.changed"  # noqa: S105  (an action name, not a password)
PASSWORD_RESET_REQUESTED: Final = "user.password_reset.requested"  # noqa: S105  (an action name)
PASSWORD_RESET_COMPLETED: Final = "user.password_reset.completed"  # noqa: S105  (an action name)
#: One session ended from the account page's session list.
PORTAL_SESSION_REVOKED: Final = "portal.session.revoked"
#: The tenant's chain was checked ("Verify now", `kassa audit verify`); outcome failure if it is broken.
AUDIT_CHAIN_VERIFIED: Final = "audit.chain.verified"
#: The audit screen's CSV export was downloaded (with the filters it was made with).
AUDIT_EXPORTED: Final = "audit.exported"
# Team (tenants/team.py) and four-eyes approvals (tenants/approvals.py).
MEMBERSHIP_ROLE_CHANGED: Final = "membership.role_changed"
MEMBERSHIP_REMOVED: Final = "membership.removed"
ROLE_CREATED: Final = "role.created"
ROLE_UPDATED: Final = "role.updated"
ROLE_DELETED: Final = "role.deleted"
INVITATION_CREATED: Final = "invitation.created"
INVITATION_SENT: Final = "invitation.sent"
INVITATION_REVOKED: Final = "invitation.revoked"
INVITATION_ACCEPTED: Final = "invitation.accepted"
PORTAL_TENANT_SWITCHED: Final = "portal.tenant_switched"
API_KEY_SECRET_REVEALED: Final = "api_key.secret_revealed"  # noqa: S105  (an action's name)
APPROVAL_POLICY_CHANGED: Final = "approval.policy_changed"
APPROVAL_REQUESTED: Final = "approval.requested"
APPROVAL_APPROVED: Final = "approval.approved"
APPROVAL_DECLINED: Final = "approval.declined"
APPROVAL_CANCELED: Final = "approval.canceled"
APPROVAL_EXPIRED: Final = "approval.expired"
APPROVAL_FAILED: Final = "approval.failed"
APPROVAL_NOTICE_SENT: Final = "approval.notice_sent"
#: The business profile (legal name, address, support contacts) changed (details: the fields changed).
BUSINESS_PROFILE_UPDATED: Final = "business_profile.updated"
#: Risk thresholds changed (details: each changed setting, before and after).
RISK_SETTINGS_UPDATED: Final = "risk.settings.updated"
#: A block-list entry was added or removed (details: kind, the clear value for BIN/country only, note).
RISK_BLOCK_ADDED: Final = "risk.block.added"
RISK_BLOCK_REMOVED: Final = "risk.block.removed"
#: A person chose the time zone the portal shows their dates in (details: from, to).
USER_TIME_ZONE_CHANGED: Final = "user.time_zone.changed"
