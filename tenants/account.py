"""A signed-in person's own account: change the password, switch authenticator app, regenerate recovery
codes, end one session. Each asks for the current password where a stolen session must not be enough
(password, authenticator, recovery codes), each is audited in every tenant the person belongs to, and
each change that a session was granted on ends the person's other sessions: the caller opens a fresh
one for the browser that made the change (`portal_sessions.start`), so only that browser stays in.
"""

from __future__ import annotations

import functools
from zoneinfo import available_timezones

from sqlalchemy.orm import Session

from core.audit import actions
from core.context import Acting
from core.errors import AuthenticationFailed, InvalidInput
from tenants import passwords, portal_sessions, recovery_codes
from tenants.models import User
from tenants.service import hash_password, validate_password
from tenants.sign_in import audit_in_every_tenant, enroll_totp


class WrongPassword(AuthenticationFailed):
    code = "wrong_password"

    def __init__(self) -> None:
        super().__init__("Your current password is not correct.")
        self.param = "current"


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.disabled:
        raise AuthenticationFailed("Sign in again.")
    return user


def _check_current(user: User, current: str) -> None:
    if not passwords.current().verify(user.password_hash, current):
        raise WrongPassword()


def change_password(session: Session, ctx: Acting, *, user_id: str, current: str, new: str) -> int:
    """Set a new password (the current one required); end every session of the user. Returns how many."""
    user = _user(session, user_id)
    _check_current(user, current)
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
    _check_current(user, current)
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
    _check_current(user, current)
    codes = recovery_codes.generate(session, user_id=user.id, kms=ctx.kms, clock=ctx.clock)
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user.id,
        action=actions.USER_RECOVERY_CODES_GENERATED,
    )
    return codes


def revoke_session(session: Session, ctx: Acting, *, user_id: str, session_id: str) -> bool:
    """End one of the user's own open sessions (False, and nothing audited, for any other id)."""
    if not portal_sessions.revoke_one(session, user_id=user_id, session_id=session_id, clock=ctx.clock):
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
