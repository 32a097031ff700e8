"""Account-level sign-in rules: lockout after failed attempts, disabling a user, one-time TOTP codes.

Kept in the database, not in Redis: a lock must hold whichever IP the guesses come from and whether or
not Redis is up (PCI DSS 8.3.4). The per-IP limit against password spraying stays in Redis
(core/ratelimit.py), and fails closed.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Final

import pyotp
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.clock import Clock
from core.context import Acting
from core.errors import KassaError, NotFound
from core.kms import KMS
from tenants import portal_sessions
from tenants.models import User
from tenants.resolution import memberships_of
from tenants.service import _totp_context, set_totp_secret

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


def _audit_in_every_tenant(
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
    _audit_in_every_tenant(
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
    _audit_in_every_tenant(
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
    _audit_in_every_tenant(session, ctx, user_id=user.id, action=actions.USER_ENABLED)
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
