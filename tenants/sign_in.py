"""Signing in to the portal, as a service the views call: email and password, then an authentication code
(TOTP) or a one-time recovery code, enrolling TOTP on first sign-in; plus the account rules under it
(lockout after failed attempts, disabling a user, one-time TOTP codes).

`SignIn(session, ctx)` owns its rate limits (per client IP against password spraying, per user against
code guessing), counts failures against the account and audits every outcome; a view only maps its
errors to a form message. Failures are written in the request's own transaction, which the view commits
even with the refusal's 4xx status (`commit_on_error`), so a refused attempt is never rolled back with
its answer.

Kept in the database, not in Redis: a lock must hold whichever IP the guesses come from and whether or
not Redis is up (PCI DSS 8.3.4). The per-IP limit against password spraying stays in Redis
(core/ratelimit.py), and fails closed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, NoReturn

import pyotp
import segno
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.clock import Clock
from core.context import Acting, ActorType, Context
from core.errors import AuthenticationFailed, KassaError, NotFound
from core.kms import KMS
from core.ratelimit import LimiterUnavailable, RateLimiter
from tenants import portal_sessions, recovery_codes
from tenants import service as accounts
from tenants.models import User
from tenants.resolution import memberships_of
from tenants.service import _totp_context, set_totp_secret

log = logging.getLogger(__name__)

#: The failed attempt (wrong password or wrong code) that locks the account.
MAX_FAILED_LOGINS: Final = 10
LOCKOUT: Final = timedelta(minutes=30)
#: Codes of the previous and next 30-second step are accepted too (clocks drift).
TOTP_WINDOW: Final = 1


class AccountLocked(KassaError):
    status = 403
    type = "authentication_error"
    code = "account_locked"

    def __init__(self, until: datetime) -> None:
        super().__init__(
            "This account is locked for 30 minutes after too many failed sign-in attempts. "
            f"Try again after {until:%H:%M} UTC, or ask an owner of your merchant account for help."
        )
        self.until = until


def audit_in_every_tenant(
    session: Session,
    ctx: Acting,
    *,
    user_id: str,
    action: str,
    outcome: Outcome = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
) -> None:
    """A user is not tenant-scoped, so an event about them goes to the chain of every tenant they belong
    to (each tenant's admins see what happened to their member)."""
    bind = getattr(session, "bind_tenant", None)
    previous = session.info.get("tenant_id")
    for tenant_id, _role in memberships_of(session, user_id):
        if bind is not None:
            bind(tenant_id)
        audit.record(
            session,
            ctx,
            action,
            subject=audit.Ref("user", user_id, tenant_id),
            outcome=outcome,
            details=details,
        )
    if bind is not None:
        bind(previous)


def check_not_locked(session: Session, *, user_id: str, clock: Clock) -> None:
    """Raise `AccountLocked` while the user's lock lasts."""
    until = session.scalar(select(User.locked_until).where(User.id == user_id))
    if until is not None and until > clock.now():
        raise AccountLocked(until)


def record_failure(session: Session, ctx: Acting, *, user_id: str) -> datetime | None:
    """Count one failed attempt; on the MAX_FAILED_LOGINS-th, lock the account, audit it and return
    the lock's end. Counted with one UPDATE so concurrent attempts each count."""
    count = session.execute(
        update(User)
        .where(User.id == user_id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar()
    if count is None or count < MAX_FAILED_LOGINS:
        return None
    until = ctx.clock.now() + LOCKOUT
    # Conditional: of two attempts that both reached the limit, one locks (and audits) the account.
    locked = session.execute(
        update(User)
        .where(User.id == user_id, User.failed_logins >= MAX_FAILED_LOGINS)
        .values(failed_logins=0, locked_until=until)
        .execution_options(synchronize_session=False)
    )
    if not locked.rowcount:  # type: ignore[attr-defined]
        return None
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user_id,
        action=actions.USER_LOCKED,
        outcome=Outcome.FAILURE,
        details={"failed_attempts": MAX_FAILED_LOGINS, "locked_until": until.isoformat()},
    )
    return until


def clear_failures(session: Session, *, user_id: str) -> None:
    """A complete sign-in (password and code) starts the count again."""
    session.execute(
        update(User)
        .where(User.id == user_id, or_(User.failed_logins != 0, User.locked_until.is_not(None)))
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )


def _by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"No user has the email {email.strip()!r}.", param="email")
    return user


def disable_user(session: Session, ctx: Acting, *, email: str) -> tuple[User, int]:
    """Disable a user everywhere: no sign-in, every open session ended now. Returns the user and how
    many sessions were ended. Disabling a disabled user changes nothing."""
    user = _by_email(session, email)
    if user.disabled:
        return user, 0
    user.disabled = True
    session.flush()
    ended = portal_sessions.revoke_all(
        session, user_id=user.id, reason=portal_sessions.USER_DISABLED, clock=ctx.clock
    )
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user.id,
        action=actions.USER_DISABLED,
        details={"sessions_revoked": ended},
    )
    return user, ended


def enable_user(session: Session, ctx: Acting, *, email: str) -> User:
    """Let a disabled (or locked) user sign in again."""
    user = _by_email(session, email)
    if not user.disabled and user.locked_until is None and not user.failed_logins:
        return user
    user.disabled = False
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    audit_in_every_tenant(session, ctx, user_id=user.id, action=actions.USER_ENABLED)
    return user


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    step_now = totp.timecode(now)
    for step in range(step_now - TOTP_WINDOW, step_now + TOTP_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def accept_totp(session: Session, *, user: User, code: str, kms: KMS, clock: Clock) -> bool:
    """Accept a current code once, even from two concurrent requests.

    The code's time step is stored with a conditional UPDATE (`… WHERE totp_last_step < step`): of two
    transactions presenting the same code, the second waits on the row and then matches nothing.
    A code at or before the last accepted step is refused too, so an older code cannot follow a newer.
    """
    if user.totp_secret_encrypted is None:
        return False
    secret = kms.decrypt(user.totp_secret_encrypted, context=_totp_context(user.id)).decode()
    step = _matching_step(secret, code, clock.now())
    if step is None:
        return False
    won = session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.expire(user, ["totp_last_step"])
    return bool(won.rowcount)  # type: ignore[attr-defined]


def enroll_totp(session: Session, *, user: User, secret: str, code: str, kms: KMS, clock: Clock) -> bool:
    """Store a new TOTP seed if `code` is current for it; the code's step counts as used, so the
    enrollment code cannot sign in again. Sessions opened under a previous seed end."""
    step = _matching_step(secret, code, clock.now())
    if step is None:
        return False
    set_totp_secret(user, secret=secret, kms=kms, last_step=step)
    session.flush()
    portal_sessions.revoke_all(session, user_id=user.id, reason=portal_sessions.TOTP_CHANGED, clock=clock)
    return True


# --- the sign-in flow ------------------------------------------------------------------------------------

#: Failed sign-ins from one IP, whichever accounts they try, per 15 minutes (password spraying).
MAX_FAILURES_PER_IP: Final = 50
#: Wrong codes (authentication or recovery) per user while one password step holds.
MAX_CODE_ATTEMPTS: Final = 5
#: A password step is good for this long before the code must be entered.
PENDING_SECONDS: Final = 300
UNAVAILABLE: Final = "Sign-in is unavailable for a moment. Try again shortly."


class SignInRefused(KassaError):
    """A sign-in step refused for a reason the person should read (the view shows `message`)."""

    status = 403
    type = "authentication_error"
    code = "sign_in_refused"


class TooManyAttempts(SignInRefused):
    status = 429
    code = "rate_limited"


class SignInUnavailable(SignInRefused):
    """Redis is down: the limits fail closed, so sign-in waits rather than allowing unlimited guesses."""

    status = 503
    code = "sign_in_unavailable"

    def __init__(self) -> None:
        super().__init__(UNAVAILABLE)


class NotAMember(SignInRefused):
    code = "not_a_member"

    def __init__(self) -> None:
        super().__init__("This account is not a member of any merchant account. Ask an owner to add you.")


class RestartSignIn(SignInRefused):
    """The code step is over (too many wrong codes, the account locked meanwhile): sign in again."""

    code = "sign_in_restart"


class CodeRefused(SignInRefused):
    """A wrong code; the same step may be tried again."""

    status = 200
    code = "code_refused"


@dataclass(frozen=True)
class Enrollment:
    """What the enrollment page shows for a new TOTP seed: the seed as text, its otpauth:// URI and the
    URI as a QR code (inline SVG made here: no third-party script or image service)."""

    secret: str
    uri: str
    qr_svg: str


QR_LABEL: Final = "QR code of your setup key: scan it with your authenticator app"


def new_totp_secret() -> str:
    return pyotp.random_base32(32)


def enrollment_for(email: str, secret: str) -> Enrollment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Kassa")
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=4, border=2, dark="#000", light="#fff", svgclass="qr")
    # One accessible image with a name (segno's <title> alone is not announced everywhere).
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{QR_LABEL}" ', 1)
    return Enrollment(secret=secret, uri=uri, qr_svg=svg)


class SignIn:
    """The portal's sign-in steps for one request (warehouse's `UserService`: dependencies passed in).

    `ctx.actor` is the request's (its IP, request id and browser); once the person is known each step
    acts as them, from the same place.
    """

    def __init__(self, session: Session, ctx: Context) -> None:
        self.session = session
        self.ctx = ctx
        self.clock = ctx.clock
        self.kms = ctx.kms
        self.ip = ctx.actor.origin_ip
        redis = ctx.redis
        # Fail closed: with Redis down, a guesser would otherwise get unlimited tries.
        self.ip_limiter = RateLimiter(
            redis, name="portal-login-ip", limit=MAX_FAILURES_PER_IP, window_seconds=900, fail_closed=True
        )
        # Kept server-side (not in the signed cookie, which a client could replay to reset the count).
        self.code_limiter = RateLimiter(
            redis,
            name="portal-code",
            limit=MAX_CODE_ATTEMPTS,
            window_seconds=PENDING_SECONDS,
            fail_closed=True,
        )

    def as_user(self, user_id: str) -> Context:
        """The context acting as the person signing in, from where the request came."""
        return self.ctx.acting_as(dataclasses.replace(self.ctx.actor, type=ActorType.USER, id=user_id))

    # -- step 1: email and password ----------------------------------------------------------------------

    def password(self, *, email: str, password: str) -> User:
        """The user with this email and password, who may continue to the code step; else one of
        `AccountLocked`, `TooManyAttempts`, `SignInUnavailable`, `AccountDisabled`, `NotAMember` or
        `AuthenticationFailed` (the same for an unknown email and a wrong password)."""
        email = email.strip().lower()
        user_id = accounts.user_id_for_email(self.session, email)
        try:
            # First the lock, from the database: it holds whatever the IP, and with Redis down.
            if user_id is not None:
                check_not_locked(self.session, user_id=user_id, clock=self.clock)
            if self.ip_limiter.exceeded(self.ip or ""):
                raise TooManyAttempts("Too many attempts from your network. Wait 15 minutes.")
        except LimiterUnavailable:
            raise SignInUnavailable() from None
        try:
            user = accounts.check_password(self.session, email=email, password=password)
        except accounts.AccountDisabled:
            self._audit_failure(user_id, "disabled")
            raise
        except AuthenticationFailed:
            log.warning("portal sign-in failed", extra={"outcome": "failure"})
            self._audit_failure(user_id, "password")
            locked_until = self._count_failure(user_id)
            # Redis down: this attempt is refused anyway; the next one meets the closed limiter.
            with contextlib.suppress(LimiterUnavailable):
                self.ip_limiter.hit(self.ip or "")
            if locked_until is not None:
                raise AccountLocked(locked_until) from None
            raise
        if not memberships_of(self.session, user.id):
            raise NotAMember()
        return user

    # -- step 2: the pending user, and their code --------------------------------------------------------

    def pending(self, user_id: str) -> User:
        """The user of a password step still in progress; `RestartSignIn` if disabled, gone or locked
        meanwhile (by guesses from elsewhere), or out of code attempts."""
        user = self.session.get(User, user_id)
        if user is None or user.disabled:
            raise RestartSignIn("Your sign-in expired. Enter your email and password again.")
        try:
            check_not_locked(self.session, user_id=user.id, clock=self.clock)
        except AccountLocked as exc:
            raise RestartSignIn(exc.message) from None
        try:
            exceeded = self.code_limiter.exceeded(user.id)
        except LimiterUnavailable:
            raise RestartSignIn(UNAVAILABLE) from None
        if exceeded:
            raise RestartSignIn("Too many wrong codes. Sign in again in a few minutes.")
        return user

    def code(self, user: User, *, code: str) -> None:
        """Accept a current authentication code once; else count the failure and raise `CodeRefused` (or
        `RestartSignIn` when that was one too many)."""
        if accept_totp(self.session, user=user, code=code, kms=self.kms, clock=self.clock):
            return
        self._code_failed(user, "authentication code")

    def recovery_code(self, user: User, *, code: str) -> int:
        """Accept an unused recovery code once (it is used up); return how many are left. Else count the
        failure like a wrong authentication code."""
        if not recovery_codes.use(self.session, user_id=user.id, code=code, kms=self.kms, clock=self.clock):
            self._code_failed(
                user, "recovery code", message="That recovery code is not valid or was already used."
            )
        left = recovery_codes.remaining(self.session, user_id=user.id)
        audit_in_every_tenant(
            self.session,
            self.as_user(user.id),
            user_id=user.id,
            action=actions.USER_RECOVERY_CODE_USED,
            details={"remaining": left},
        )
        return left

    def enroll(self, user: User, *, secret: str, code: str) -> list[str]:
        """Store a new TOTP seed confirmed by a current code for it, and make ten recovery codes (returned
        to be shown once). Ends the user's other sessions. `CodeRefused` for a wrong code."""
        if not enroll_totp(self.session, user=user, secret=secret, code=code, kms=self.kms, clock=self.clock):
            self._code_failed(user, "enrollment code")
        codes = recovery_codes.generate(self.session, user_id=user.id, kms=self.kms, clock=self.clock)
        for action in (actions.USER_TOTP_ENROLLED, actions.USER_RECOVERY_CODES_GENERATED):
            audit_in_every_tenant(self.session, self.as_user(user.id), user_id=user.id, action=action)
        return codes

    # -- step 3: the session -----------------------------------------------------------------------------

    def complete(
        self,
        user: User,
        *,
        how: str = "totp",
        method: str = "password",
        tenant_id: str | None = None,
    ) -> tuple[str, str]:
        """Open the portal session of a user who passed both steps: (token for the cookie, tenant id).
        `method` is the first step (`password`, or `sso` with the `tenant_id` whose provider vouched)."""
        with contextlib.suppress(LimiterUnavailable):
            self.code_limiter.reset(user.id)
        tenant_id = tenant_id or memberships_of(self.session, user.id)[0][0]
        clear_failures(self.session, user_id=user.id)
        token = portal_sessions.start(
            self.session,
            user_id=user.id,
            tenant_id=tenant_id,
            ip=self.ip,
            user_agent=self.ctx.actor.user_agent,
            clock=self.clock,
        )
        _bind(self.session, tenant_id)
        audit.record(
            self.session,
            self.as_user(user.id),
            actions.PORTAL_SIGN_IN,
            subject=audit.Ref("user", user.id, tenant_id),
            details={"method": method, "second_factor": how},
        )
        return token, tenant_id

    # -- failures ----------------------------------------------------------------------------------------

    def _code_failed(self, user: User, reason: str, *, message: str | None = None) -> NoReturn:
        self._audit_failure(user.id, reason)
        locked_until = self._count_failure(user.id)
        if locked_until is not None:
            raise RestartSignIn(AccountLocked(locked_until).message)
        try:
            count = self.code_limiter.hit(user.id)
        except LimiterUnavailable:
            raise RestartSignIn(UNAVAILABLE) from None
        if count >= MAX_CODE_ATTEMPTS:
            raise RestartSignIn("Too many wrong codes. Sign in again in a few minutes.")
        raise CodeRefused(
            message or "That code is not valid. Enter the current code from your authenticator app."
        )

    def _count_failure(self, user_id: str | None) -> datetime | None:
        if user_id is None:
            return None
        return record_failure(self.session, self.as_user(user_id), user_id=user_id)

    def _audit_failure(self, user_id: str | None, reason: str) -> None:
        """A failed sign-in of a known user, in their first tenant's chain."""
        if user_id is None:
            return
        tenants = memberships_of(self.session, user_id)
        if not tenants:
            return
        previous = self.session.info.get("tenant_id")
        _bind(self.session, tenants[0][0])
        audit.record(
            self.session,
            self.as_user(user_id),
            actions.PORTAL_SIGN_IN_FAILED,
            subject=audit.Ref("user", user_id, tenants[0][0]),
            outcome=Outcome.FAILURE,
            details={"reason": reason},
        )
        _bind(self.session, previous)


def _bind(session: Session, tenant_id: str | None) -> None:
    bind = getattr(session, "bind_tenant", None)
    if bind is not None:
        bind(tenant_id)
    else:
        session.info["tenant_id"] = tenant_id
