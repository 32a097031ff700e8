"""Creating tenants, users, memberships and keys; signing in."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass

import pyotp
from babel.numbers import list_currencies
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.clock import Clock
from core.context import Acting
from core.errors import AuthenticationFailed, Conflict, InvalidInput
from core.geo import is_email, validate_country
from core.ids import new_id
from core.kms import KMS
from tenants import passwords
from tenants.models import ApiKey, KeyKind, KeyMode, Membership, Role, Tenant, User

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_BASE62 = string.ascii_letters + string.digits


def _random(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKeys:
    """Keys as shown once, at creation. Only their hashes are kept."""

    publishable_key: str
    secret_key: str


def validate_tenant_fields(*, name: str, slug: str, country: str, currency: str) -> tuple[str, str, str, str]:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("Name is required (at most 200 characters).", param="name")
    slug = slug.strip().lower()
    if not _SLUG.match(slug):
        raise InvalidInput(
            "Slug must be 1-63 lower-case letters, digits or hyphens, not starting or ending with a hyphen.",
            param="slug",
        )
    country = validate_country(country)
    currency = currency.strip().upper()
    if currency not in list_currencies():
        raise InvalidInput(
            f"Currency {currency!r} is not an ISO 4217 code (e.g. EUR, USD).", param="currency"
        )
    return name, slug, country, currency


def create_tenant(
    session: Session,
    ctx: Acting,
    *,
    name: str,
    slug: str,
    country: str,
    currency: str,
) -> tuple[Tenant, IssuedKeys]:
    """Create a tenant with one pair of test keys. The session must be bound to no tenant yet."""
    name, slug, country, currency = validate_tenant_fields(
        name=name, slug=slug, country=country, currency=currency
    )
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"A tenant with slug {slug!r} already exists; choose another slug.", param="slug")
    tenant = Tenant(
        id=new_id("ten"),
        name=name,
        slug=slug,
        country=country,
        default_currency=currency,
        checkout_settings={
            "display_name": name,
            "allowed_origins": [],
            "payment_methods": ["card", "wallet", "bank"],
        },
        created_at=ctx.clock.now(),
    )
    session.add(tenant)
    session.flush()
    bind_tenant = getattr(session, "bind_tenant", None)
    if bind_tenant is not None:
        bind_tenant(tenant.id)
    else:
        session.info["tenant_id"] = tenant.id
    audit.record(
        session,
        ctx,
        actions.TENANT_CREATED,
        subject=audit.Ref("tenant", tenant.id, tenant.id),
        details={"slug": slug, "country": country, "currency": currency},
    )
    keys = IssuedKeys(
        publishable_key=issue_key(
            session,
            ctx,
            tenant_id=tenant.id,
            kind=KeyKind.PUBLISHABLE,
            mode=KeyMode.TEST,
        ),
        secret_key=issue_key(
            session,
            ctx,
            tenant_id=tenant.id,
            kind=KeyKind.SECRET,
            mode=KeyMode.TEST,
        ),
    )
    return tenant, keys


def issue_key(session: Session, ctx: Acting, *, tenant_id: str, kind: KeyKind, mode: KeyMode) -> str:
    """Make a new key and return it in full: the only time a secret key is ever visible."""
    return issue_key_record(session, ctx, tenant_id=tenant_id, kind=kind, mode=mode)[1]


def issue_key_record(
    session: Session,
    ctx: Acting,
    *,
    tenant_id: str,
    kind: KeyKind,
    mode: KeyMode,
    details: dict[str, str] | None = None,
) -> tuple[ApiKey, str]:
    """`issue_key`, also returning the stored record (its id, display and times)."""
    prefix = "pk" if kind is KeyKind.PUBLISHABLE else "sk"
    key = f"{prefix}_{mode}_{_random(32 if kind is KeyKind.SECRET else 24)}"
    display = key if kind is KeyKind.PUBLISHABLE else f"{prefix}_{mode}_…{key[-4:]}"
    record = ApiKey(
        tenant_id=tenant_id,
        id=new_id("key"),
        kind=kind,
        mode=mode,
        key_hash=hash_key(key),
        display=display,
        created_at=ctx.clock.now(),
        revoked_at=None,
        expires_at=None,
        last_used_at=None,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        ctx,
        actions.API_KEY_CREATED,
        subject=record,
        details={"kind": str(kind), "mode": str(mode), **(details or {})},
    )
    return record, key


def hash_password(password: str) -> str:
    """argon2id with the process's hasher (`tenants.passwords`: full cost everywhere but the test suite)."""
    return passwords.current().hash(password)


def validate_password(password: str) -> None:
    if len(password) < 12:
        raise InvalidInput("Password must be at least 12 characters.", param="password")
    if len(password) > 1024:
        raise InvalidInput("Password must be at most 1024 characters.", param="password")


def _totp_context(user_id: str) -> str:
    return f"user.totp:{user_id}"


def set_totp_secret(user: User, *, secret: str, kms: KMS, last_step: int | None = None) -> None:
    """Store a TOTP seed, sealed under the KMS; `last_step` is the newest time step already used."""
    user.totp_secret_encrypted = kms.encrypt(secret.encode(), context=_totp_context(user.id))
    user.totp_last_step = last_step


def create_user(
    session: Session,
    ctx: Acting,
    *,
    tenant_id: str,
    email: str,
    role: Role | str,
    password: str | None,
    totp_secret: str | None,
) -> User:
    """Create a user and make them a member of `tenant_id` with `role`; or, for an email that already has
    an account, add that person to the tenant with their sign-in unchanged.

    An existing person's password and TOTP seed are never changed here (they are theirs, and they sign in
    to every tenant they belong to with them): give no password (or their current one) and no TOTP seed
    (or their current one); anything else is refused with a message that says so."""
    email = email.strip().lower()
    if not is_email(email):
        raise InvalidInput(f"{email!r} is not an email address.", param="email")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(
            f"Role must be one of: {', '.join(r.value for r in Role)}.", param="role"
        ) from None
    user = session.scalar(select(User).where(User.email == email))
    if password is not None and user is None:
        validate_password(password)
    if totp_secret is not None:
        totp_secret = _valid_totp_secret(totp_secret)
    if user is None:
        if password is None:
            raise InvalidInput(f"{email} has no account yet: a password is required.", param="password")
        user = User(
            id=new_id("usr"),
            email=email,
            password_hash=hash_password(password),
            totp_secret_encrypted=None,
            totp_last_step=None,
            disabled=False,
            created_at=ctx.clock.now(),
        )
        session.add(user)
        session.flush()
        audit.record(
            session,
            ctx,
            actions.USER_CREATED,
            subject=audit.Ref("user", user.id, tenant_id),
            details={"email": email},
        )
        if totp_secret is not None:
            set_totp_secret(user, secret=totp_secret, kms=ctx.kms)
    else:
        _check_same_sign_in(user, password=password, totp_secret=totp_secret, kms=ctx.kms)
    existing = session.scalar(
        select(Membership).where(Membership.tenant_id == tenant_id, Membership.user_id == user.id)
    )
    if existing is not None:
        raise Conflict(f"{email} is already a member of this tenant.", param="email")
    membership = Membership(
        tenant_id=tenant_id, id=new_id("mem"), user_id=user.id, role=role, created_at=ctx.clock.now()
    )
    session.add(membership)
    session.flush()
    audit.record(
        session,
        ctx,
        actions.MEMBERSHIP_CREATED,
        subject=membership,
        details={"user_id": user.id, "role": str(role)},
    )
    return user


def _valid_totp_secret(secret: str) -> str:
    secret = secret.strip().replace(" ", "").upper()
    try:
        pyotp.TOTP(secret).now()
    except Exception:
        raise InvalidInput("TOTP secret must be base32 (A-Z, 2-7).", param="totp_secret") from None
    if len(secret) < 16:
        raise InvalidInput(
            "TOTP secret must be at least 16 base32 characters (80 bits).", param="totp_secret"
        )
    return secret


def _check_same_sign_in(user: User, *, password: str | None, totp_secret: str | None, kms: KMS) -> None:
    """Refuse a password or TOTP seed for an existing account unless it is the one it already has."""
    if password is not None and not passwords.current().verify(user.password_hash, password):
        raise Conflict(
            f"{user.email} already has a Kassa account, and `users create` never changes an existing "
            "person's password. Leave out --password to add them to this tenant with the password "
            "they already have.",
            param="password",
        )
    if totp_secret is not None:
        current = (
            kms.decrypt(user.totp_secret_encrypted, context=_totp_context(user.id)).decode()
            if user.totp_secret_encrypted is not None
            else None
        )
        if current is None or not secrets.compare_digest(current, totp_secret):
            raise Conflict(
                f"{user.email} already has a Kassa account, and `users create` never changes an existing "
                "person's authentication app. Leave out --totp-secret to add them with the one they use.",
                param="totp_secret",
            )


def user_id_for_email(session: Session, email: str) -> str | None:
    return session.scalar(select(User.id).where(User.email == email.strip().lower()))


class AccountDisabled(AuthenticationFailed):
    code = "account_disabled"

    def __init__(self) -> None:
        super().__init__(
            "This account is disabled. Ask an owner of your merchant account to enable it again."
        )


def check_password(session: Session, *, email: str, password: str) -> User:
    """The user with this email and password; else `AuthenticationFailed` (one message for both cases).

    Exactly one argon2 verification either way (an unknown email is checked against a dummy hash), so
    the time taken does not tell a guesser whether the email exists. A disabled user hears so only
    after giving the right password: a guesser learns nothing from it.
    """
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    failure = AuthenticationFailed("Email or password is incorrect.")
    hasher = passwords.current()
    if user is None:
        # Against the configured hasher's own dummy hash, so an unknown email takes as long as a wrong
        # password whichever hasher runs.
        hasher.burn_time(password)
        raise failure
    if not hasher.verify(user.password_hash, password):
        raise failure
    if user.disabled:
        raise AccountDisabled()
    if hasher.needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def has_totp(user: User) -> bool:
    return user.totp_secret_encrypted is not None


def check_totp(user: User, *, code: str, kms: KMS, clock: Clock) -> bool:
    """Accept a current code once (a replayed code inside its 30 s window is refused) on this ORM object.

    Not atomic across concurrent requests: sign-in uses `tenants.sign_in.accept_totp`, which is.
    """
    if user.totp_secret_encrypted is None:
        return False
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    secret = kms.decrypt(user.totp_secret_encrypted, context=_totp_context(user.id)).decode()
    totp = pyotp.TOTP(secret)
    now = clock.now()
    step_now = totp.timecode(now)
    for step in (step_now - 1, step_now, step_now + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False
