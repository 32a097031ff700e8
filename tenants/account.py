"""A signed-in person's own account: change the password, switch authenticator app, regenerate recovery
codes, end one session. Each asks for the current password where a stolen session must not be enough
(password, authenticator, recovery codes), each is audited in every tenant the person belongs to, and
each change that a session was granted on ends the person's other sessions: the caller opens a fresh
one for the browser that made the change (`portal_sessions.start`), so only that browser stays in.

A wrong current password counts towards the account's lockout exactly like a failed sign-in
(tenants/sign_in.py `record_failure`: a session alone must not be a way to guess the password): it is
audited (the action's own name, outcome failure), and the attempt that reaches the limit locks the
account and ends every one of its sessions (`LockedNow`). While the account is locked, the current
password is not checked at all. The caller commits these with its refusal (`commit_on_error`).
"""

from __future__ import annotations

import functools
from zoneinfo import available_timezones

from sqlalchemy.orm import Session

from core.audit import actions
from core.audit.models import Outcome
from core.context import Acting
from core.errors import AuthenticationFailed, InvalidInput, NotFound
from tenants import passwords, portal_sessions, recovery_codes
from tenants.models import User
from tenants.service import hash_password, validate_password
from tenants.sign_in import (
    AccountLocked,
    audit_in_every_tenant,
    check_not_locked,
    enroll_totp,
    record_failure,
)


class WrongPassword(AuthenticationFailed):
    code = "wrong_password"

    def __init__(self) -> None:
        super().__init__("Your current password is not correct.")
        self.param = "current"


class LockedNow(AccountLocked):
    """This wrong current password was the one too many: the account is locked and signed out everywhere."""


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.disabled:
        raise AuthenticationFailed("Sign in again.")
    return user


def _check_current(session: Session, ctx: Acting, user: User, current: str, *, action: str) -> None:
    """The current password, or: `AccountLocked` (locked already: nothing checked), `LockedNow` (this
    attempt locked it: every session of the account ended) or `WrongPassword` (the failure counted and
    audited as `action`, outcome failure)."""
    check_not_locked(session, user_id=user.id, clock=ctx.clock)
    if passwords.current().verify(user.password_hash, current):
        return
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user.id,
        action=action,
        outcome=Outcome.FAILURE,
        details={"reason": "wrong current password"},
    )
    locked_until = record_failure(session, ctx, user_id=user.id)
    if locked_until is not None:
        portal_sessions.revoke_all(
            session, user_id=user.id, reason=portal_sessions.USER_LOCKED, clock=ctx.clock
        )
        raise LockedNow(locked_until)
    raise WrongPassword()


def change_password(session: Session, ctx: Acting, *, user_id: str, current: str, new: str) -> int:
    """Set a new password (the current one required); end every session of the user. Returns how many."""
    user = _user(session, user_id)
    _check_current(session, ctx, user, current, action=actions.USER_PASSWORD_CHANGED)
    validate_password(new)
    if passwords.current().verify(user.password_hash, new):
        raise InvalidInput("Choose a password different from your current one.", param="password")
    user.password_hash = hash_password(new)
    session.flush()
    ended = portal_sessions.revoke_all(
        session, user_id=user.id, reason=portal_sessions.PASSWORD_CHANGED, clock=ctx.clock
    )
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user.id,
        action=actions.USER_PASSWORD_CHANGED,
        details={"sessions_revoked": ended},
    )
    return ended


def reenroll_totp(
    session: Session, ctx: Acting, *, user_id: str, current: str, secret: str, code: str
) -> list[str]:
    """Switch to a new authenticator app: the current password and a current code of the new seed. Ends
    every session and makes a new set of recovery codes (returned, to be shown once)."""
    user = _user(session, user_id)
    _check_current(session, ctx, user, current, action=actions.USER_TOTP_ENROLLED)
    if not enroll_totp(session, user=user, secret=secret, code=code, kms=ctx.kms, clock=ctx.clock):
        raise InvalidInput(
            "That code is not valid. Enter the current code your app shows for the new key.", param="code"
        )
    codes = recovery_codes.generate(session, user_id=user.id, kms=ctx.kms, clock=ctx.clock)
    for action in (actions.USER_TOTP_ENROLLED, actions.USER_RECOVERY_CODES_GENERATED):
        audit_in_every_tenant(
            session,
            ctx,
            user_id=user.id,
            action=action,
            details={"reenrolled": True},
        )
    return codes


def regenerate_recovery_codes(session: Session, ctx: Acting, *, user_id: str, current: str) -> list[str]:
    """A new set of ten recovery codes (the current password required); the old ones stop working."""
    user = _user(session, user_id)
    _check_current(session, ctx, user, current, action=actions.USER_RECOVERY_CODES_GENERATED)
    codes = recovery_codes.generate(session, user_id=user.id, kms=ctx.kms, clock=ctx.clock)
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user.id,
        action=actions.USER_RECOVERY_CODES_GENERATED,
    )
    return codes


def revoke_session(session: Session, ctx: Acting, *, user_id: str, session_id: str) -> bool:
    """End one of the user's own open sessions (False, and nothing audited, for one of theirs that had
    already ended; `NotFound` for anyone else's id: existence is not leaked)."""
    if not portal_sessions.revoke_one(session, user_id=user_id, session_id=session_id, clock=ctx.clock):
        if not portal_sessions.is_own(session, user_id=user_id, session_id=session_id):
            raise NotFound("No such session of yours.")
        return False
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user_id,
        action=actions.PORTAL_SESSION_REVOKED,
        # The first characters of the row id tell sessions apart in the log; the whole id stays out.
        details={"session": session_id[:12]},
    )
    return True


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The IANA zones a person may choose (the tz database Python ships with, or tzdata's)."""
    chosen = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return ("UTC", *chosen)


def set_time_zone(session: Session, ctx: Acting, *, user_id: str, time_zone: str) -> str:
    """The zone the portal shows this person's dates in; audited in each of their tenants."""
    zone = (time_zone or "").strip()
    if zone not in set(time_zones()):
        raise InvalidInput(
            "Choose a time zone from the list, like Europe/Berlin or America/New_York.", param="time_zone"
        )
    user = _user(session, user_id)
    before = user.time_zone or "UTC"
    if before == zone:
        return zone
    user.time_zone = None if zone == "UTC" else zone
    session.flush()
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user.id,
        action=actions.USER_TIME_ZONE_CHANGED,
        details={"from": before, "to": zone},
    )
    return zone
