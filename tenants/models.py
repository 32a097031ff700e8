"""Tenants, users, memberships and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core import models as _core_models  # noqa: F401  (brings every core model into Base.metadata)
from core.db import JSON_TYPE, Base, IdStr, JsonDict, TenantScoped, Timestamp, str_enum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    ANALYST = "analyst"
    SUPPORT = "support"
    VIEWER = "viewer"


class KeyKind(StrEnum):
    PUBLISHABLE = "publishable"
    SECRET = "secret"  # noqa: S105  (an enum label, not a secret)


class KeyMode(StrEnum):
    TEST = "test"
    LIVE = "live"


class Tenant(Base):
    """A merchant account. Not tenant-scoped itself: its id *is* the tenant."""

    __tablename__ = "tenants"

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: URL-safe handle, unique across Kassa (CLI `--tenant`, portal URLs).
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    #: ISO 3166-1 alpha-2 country of the merchant's business.
    country: Mapped[str] = mapped_column(String(2))
    #: ISO 4217 currency the merchant settles in by default.
    default_currency: Mapped[str] = mapped_column(String(3))
    #: Test-mode checkout branding and embedding: display name, brand colour, statement descriptor,
    #: allowed widget origins, methods, logo metadata (the bytes are in `tenant_logos`). Read it only
    #: through tenants/checkout_settings.py, which picks the document of the mode at hand.
    checkout_settings: Mapped[JsonDict] = mapped_column(default=dict)
    #: The same for live mode: a test key never reads or writes it (test and live are separate worlds).
    live_checkout_settings: Mapped[JsonDict] = mapped_column(default=dict)
    #: The business behind the account, for both modes: legal name, address, support email and URL
    #: (tenants/business_profile.py); receipts show them (core/receipts).
    business_profile: Mapped[JsonDict] = mapped_column(default=dict)
    created_at: Mapped[Timestamp]
    #: Moved by the database (a trigger per cached table, migration 0037) whenever something processes
    #: keep of this tenant changes: core/tenant_cache.py. Never written by the application.
    cache_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class User(Base):
    """A person who signs in to the portal; belongs to tenants through memberships."""

    __tablename__ = "users"

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: Stored lower-cased; unique across Kassa.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    #: argon2id hash.
    password_hash: Mapped[str] = mapped_column(String(200))
    #: TOTP seed, AES-GCM encrypted under the master key (see core/kms.py); null until enrolled.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Last accepted TOTP time step: a code is accepted once.
    totp_last_step: Mapped[int | None]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Wrong passwords and codes since the last sign-in or lock (tenants/sign_in.py): the 10th locks.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Sign-in is refused until then (PCI DSS 8.3.4), whatever the password.
    locked_until: Mapped[datetime | None]
    #: IANA time zone the portal shows this person's dates in ("Europe/Berlin"); null: UTC.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[Timestamp]


class PortalSession(Base):
    """A signed-in portal session, kept server-side so it can be revoked (tenants/portal_sessions.py).

    Global like `users` (a person may belong to several tenants), so no `tenant_id` column and no RLS:
    the tenant the session acts for is `active_tenant`. The browser's cookie holds only the token; the
    table holds only its SHA-256, so a leaked copy of the table opens no session.
    """

    __tablename__ = "portal_sessions"

    #: SHA-256 hex of the 256-bit token in the cookie.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id"), index=True)
    #: The tenant the user acts for in this session (one of their memberships).
    active_tenant: Mapped[str] = mapped_column(String(40), ForeignKey("tenants.id"))
    created_at: Mapped[Timestamp]
    #: Last request seen, updated at most once a minute: the idle timeout counts from here.
    last_seen_at: Mapped[Timestamp]
    revoked_at: Mapped[datetime | None]
    #: Why it ended early: `sign_out`, `sign_out_everywhere`, `user_disabled`, `totp_changed`, ...
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class RecoveryCode(Base):
    """One of a user's ten one-time recovery codes (tenants/recovery_codes.py): signs in instead of an
    authentication code, once. Global like `users`. Only a keyed hash is stored: a copy of the table
    without the master key opens nothing, and the codes are too random to guess offline anyway."""

    __tablename__ = "recovery_codes"

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id"), index=True)
    #: Hex HMAC-SHA256 of `user_id | code` under the KMS purpose key `recovery-codes` of `key_id`.
    code_hash: Mapped[str] = mapped_column(String(64))
    #: Hex id of the master key whose purpose key made `code_hash`.
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Timestamp]
    #: Set when the code signed someone in: from then on it is refused.
    used_at: Mapped[datetime | None]


class PasswordReset(Base):
    """A "Forgot password" request (tenants/password_reset.py): single use, valid 30 minutes.

    The emailed token is a MAC of `id` under a purpose key of the master key, so the send job can make it
    again from the id alone and the table stores only its SHA-256 (`token_hash`): the database alone
    opens no reset."""

    __tablename__ = "password_resets"

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id"), index=True)
    #: SHA-256 hex of the emailed token: how a presented token is found.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Hex id of the master key whose purpose key made the token.
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp]
    #: Set when the password was reset with it, or when a newer reset or another password change made it
    #: void: a reset link works once.
    used_at: Mapped[datetime | None]
    #: When the email went to the mail server (the job may run twice: it sends once).
    sent_at: Mapped[datetime | None]


class Membership(TenantScoped, Base):
    """A user's role in one tenant."""

    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "membership"

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        ForeignKeyConstraint(
            ["tenant_id", "custom_role_id"],
            ["custom_roles.tenant_id", "custom_roles.id"],
            name="fk_memberships_tenant_id_custom_roles",
        ),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, 20))
    #: A custom role of the tenant (tenants/team.py): when set, its permissions replace `role`'s.
    custom_role_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[Timestamp]


class ApiKey(TenantScoped, Base):
    """A publishable (`pk_…`) or secret (`sk_…`) key. Secret keys are stored only as a SHA-256 hash."""

    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "api_key"

    __tablename__ = "api_keys"

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    kind: Mapped[KeyKind] = mapped_column(str_enum(KeyKind, 12))
    mode: Mapped[KeyMode] = mapped_column(str_enum(KeyMode, 4))
    #: SHA-256 hex of the whole key: how a presented key is found (unique across tenants).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: What the portal shows: the full publishable key, or `sk_test_…abcd` for a secret one.
    display: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[Timestamp]
    #: Set when the key is revoked: from then on every use is refused (401) and audited.
    revoked_at: Mapped[datetime | None]
    #: Set when the key is rolled with an overlap: it works until then, and is refused (and audited) after.
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    #: A restricted key's permissions (sorted names, tenants/permissions.py); null: every permission of
    #: its mode (a plain secret key, a publishable key).
    permissions: Mapped[list[str] | None] = mapped_column(JSON_TYPE, default=None)

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class TenantLogo(TenantScoped, Base):
    """The logo on a tenant's checkout: at most one per tenant and mode, served by Kassa (tenants/logos.py).

    Kept here rather than fetched from a URL the merchant names: nothing from another origin ever loads
    on a payment page (PCI DSS 6.4.3; the CSP's `img-src 'self'`).
    """

    __tablename__ = "tenant_logos"
    __table_args__ = (UniqueConstraint("tenant_id", "livemode"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: The mode whose checkout shows it: test and live each have their own logo.
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    #: `image/png`, `image/jpeg` or `image/webp`, as the bytes themselves say (never as declared).
    content_type: Mapped[str] = mapped_column(String(20))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    #: Size of `data` in bytes.
    size: Mapped[int] = mapped_column(Integer)
    #: Hex SHA-256 of `data`: the strong ETag, and the version in the logo's URL.
    sha256: Mapped[str] = mapped_column(String(64))
    #: Pixel size read from the image header: the page reserves the box before the image arrives.
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[Timestamp]


class SsoProvider(TenantScoped, Base):
    """A tenant's OpenID Connect provider for single sign-on (tenants/sso.py): at most one per tenant.

    The client secret is sealed under the tenant's `secrets` data key (core/keys), never stored or logged
    in clear; the portal shows only whether one is set.
    """

    __tablename__ = "sso_providers"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    #: How the audit trail names it (core/audit: `subject=provider`).
    __subject__: ClassVar[str] = "sso_provider"

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: The provider's issuer identifier (`https://login.example.com`): discovery is read from
    #: `<issuer>/.well-known/openid-configuration`, and ID tokens must name exactly this issuer.
    issuer: Mapped[str] = mapped_column(String(500))
    #: The client id Kassa is registered under at the provider: ID tokens must name it as audience.
    client_id: Mapped[str] = mapped_column(String(255))
    #: The client secret, sealed (core/keys/service.py `seal`, purpose `secrets`); null: a public client
    #: (PKCE only).
    client_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Lower-case email domains whose verified addresses may sign in through this provider.
    allowed_domains: Mapped[list[str]] = mapped_column(JSON_TYPE, default=list)
    #: What the sign-in button says ("Sign in with <display_name>").
    display_name: Mapped[str] = mapped_column(String(100))
    #: Off: nobody signs in through it (the settings are kept).
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: On: the tenant's members cannot sign in with a password; only through this provider.
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class CustomRole(TenantScoped, Base):
    """A tenant's own role: a name and a set of permissions from the catalogue (tenants/permissions.py)."""

    __tablename__ = "custom_roles"
    __subject__: ClassVar[str] = "role"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    #: Sorted permission names; a name Kassa no longer knows grants nothing.
    permissions: Mapped[list[str]] = mapped_column(JSON_TYPE)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class Invitation(TenantScoped, Base):
    """An emailed invitation to join a tenant: single-use, expiring, found by the SHA-256 of its token."""

    __tablename__ = "invitations"
    __subject__: ClassVar[str] = "invitation"

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: Lower-cased address the invitation was sent to; accepting signs in (or creates) exactly this account.
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(str_enum(Role, 20))
    custom_role_id: Mapped[str | None] = mapped_column(String(40))
    #: SHA-256 hex of the 256-bit token in the link: how the link finds the invitation.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The token sealed under the KMS for the mail job; cleared once the email is sent.
    token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The user who invited.
    invited_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp]
    accepted_at: Mapped[datetime | None]
    accepted_by: Mapped[str | None] = mapped_column(String(40))
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "custom_role_id"],
            ["custom_roles.tenant_id", "custom_roles.id"],
            name="fk_invitations_tenant_id_custom_roles",
        ),
    )


class ApprovalPolicy(TenantScoped, Base):
    """What one kind of action needs a second person for, in one tenant (tenants/approvals.py)."""

    __tablename__ = "approval_policies"
    __subject__: ClassVar[str] = "approval_policy"
    __table_args__ = (UniqueConstraint("tenant_id", "kind"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    #: `{"enabled": bool}`, and for refunds `{"thresholds": {"EUR": 10000}}` (minor units per currency).
    settings: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE)
    updated_at: Mapped[Timestamp]


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    #: Approved and carried out.
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"
    #: Approved, but carrying it out was refused (the payment was refunded meanwhile, say).
    FAILED = "failed"
    #: Withdrawn by the requester.
    CANCELED = "canceled"


class ApprovalRequest(TenantScoped, Base):
    """An action held for a second person's approval: exactly what was asked, by whom and why."""

    __tablename__ = "approval_requests"
    __subject__: ClassVar[str] = "approval_request"
    __table_args__ = (Index("ix_approval_requests_status", "tenant_id", "status"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: A registered kind (tenants/approvals.py `KINDS`): `refund`, `api_key.create_live_secret`, ...
    kind: Mapped[str] = mapped_column(String(40))
    #: The action's arguments, as the executor will receive them.
    params: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE)
    #: One line a person reads: "Refund €250.00 of pay_…".
    summary: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(String(500))
    #: `user` or `api_key`.
    requested_by_type: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(40))
    status: Mapped[ApprovalStatus] = mapped_column(str_enum(ApprovalStatus, 20))
    created_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp]
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(String(500))
    #: What carrying it out produced (`{"refund": "re_…"}`) or why it failed (`{"error": "..."}`).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON_TYPE)
