"""Portal sessions, kept server-side: revocable, with an idle and an absolute limit (PCI DSS 8.2.8).

The browser's cookie carries only a 256-bit random token; the `portal_sessions` row (keyed by the token's
SHA-256) says whose session it is, for which tenant, and whether it still holds. Every request resumes
the session through `resume`, which refuses a revoked, idle (15 minutes) or too old (12 hours) one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import Clock
from tenants.models import PortalSession

#: No request for this long ends the session.
IDLE_TIMEOUT: Final = timedelta(minutes=15)
#: A session ends this long after sign-in, however active.
ABSOLUTE_TIMEOUT: Final = timedelta(hours=12)
#: `last_seen_at` is written at most this often: not one UPDATE per page view.
TOUCH_INTERVAL: Final = timedelta(minutes=1)

SIGN_OUT: Final = "sign_out"
SIGN_OUT_EVERYWHERE: Final = "sign_out_everywhere"
USER_DISABLED: Final = "user_disabled"
TOTP_CHANGED: Final = "totp_changed"
PASSWORD_CHANGED: Final = "password_changed"  # noqa: S105  (a reason label, not a password)
ROLE_CHANGED: Final = "role_changed"
PASSWORD_RESET: Final = "password_reset"  # noqa: S105  (a reason label, not a password)
REVOKED_BY_USER: Final = "revoked_by_user"
#: Too many wrong current passwords on the account page locked the account (tenants/account.py).
USER_LOCKED: Final = "user_locked"


@dataclass(frozen=True)
class ActiveSession:
    """A session that holds: who, for which tenant."""

    id: str
    user_id: str
    tenant_id: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(
    session: Session,
    *,
    user_id: str,
    tenant_id: str,
    ip: str | None,
    user_agent: str | None,
    clock: Clock,
) -> str:
    """Open a session and return its token (for the cookie; only its hash is stored). A new token at
    every sign-in: a token planted in a browser before sign-in never becomes a signed-in one."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        PortalSession(
            id=_digest(token),
            user_id=user_id,
            active_tenant=tenant_id,
            created_at=now,
            last_seen_at=now,
            revoked_at=None,
            revoked_reason=None,
            ip=ip[:45] if ip else None,
            user_agent=user_agent[:300] if user_agent else None,
        )
    )
    session.flush()
    return token


def resume(session: Session, *, token: str, clock: Clock, touch: bool = True) -> ActiveSession | None:
    """The session this token opens, or None if unknown, revoked, idle too long or too old. `touch=False`
    for a request the browser makes by itself (the bell's poll): it must not keep an idle session alive."""
    if not token or len(token) > 100:
        return None
    row = session.get(PortalSession, _digest(token))
    if row is None or row.revoked_at is not None:
        return None
    now = clock.now()
    if now - row.last_seen_at > IDLE_TIMEOUT or now - row.created_at > ABSOLUTE_TIMEOUT:
        return None
    if touch and now - row.last_seen_at > TOUCH_INTERVAL:
        row.last_seen_at = now
    return ActiveSession(id=row.id, user_id=row.user_id, tenant_id=row.active_tenant)


def revoke(session: Session, *, token: str, reason: str, clock: Clock) -> None:
    """End one session (sign-out)."""
    session.execute(
        update(PortalSession)
        .where(PortalSession.id == _digest(token), PortalSession.revoked_at.is_(None))
        .values(revoked_at=clock.now(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


def token_digest(token: str) -> str:
    """The row id of the session this token opens (the account page marks "this session" with it)."""
    return _digest(token)


def revoke_one(session: Session, *, user_id: str, session_id: str, clock: Clock) -> bool:
    """End one of the user's own sessions by its row id (the account page's list); False if it is not
    an open session of theirs (someone else's id ends nothing)."""
    result = session.execute(
        update(PortalSession)
        .where(
            PortalSession.id == session_id,
            PortalSession.user_id == user_id,
            PortalSession.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now(), revoked_reason=REVOKED_BY_USER)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def is_own(session: Session, *, user_id: str, session_id: str) -> bool:
    """Whether `session_id` is a session (open or ended) of this user."""
    return (
        session.scalar(
            select(PortalSession.id).where(PortalSession.id == session_id, PortalSession.user_id == user_id)
        )
        is not None
    )


def revoke_all(session: Session, *, user_id: str, reason: str, clock: Clock) -> int:
    """End every open session of a user at once; return how many were open.

    Call it whenever what a session was granted on changes: sign out everywhere, the user disabled,
    their password, TOTP seed or role changed.
    """
    result = session.execute(
        update(PortalSession)
        .where(PortalSession.user_id == user_id, PortalSession.revoked_at.is_(None))
        .values(revoked_at=clock.now(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def open_sessions(session: Session, *, user_id: str, clock: Clock) -> list[PortalSession]:
    """A user's sessions that still hold, newest first (what "Sign out everywhere" would end)."""
    now = clock.now()
    rows = session.scalars(
        select(PortalSession)
        .where(
            PortalSession.user_id == user_id,
            PortalSession.revoked_at.is_(None),
            PortalSession.created_at > now - ABSOLUTE_TIMEOUT,
            PortalSession.last_seen_at > now - IDLE_TIMEOUT,
        )
        .order_by(PortalSession.created_at.desc())
    ).all()
    return list(rows)


def switch_tenant(session: Session, *, token: str, tenant_id: str) -> None:
    """Act for another of the user's tenants in this session (the caller checked the membership)."""
    session.execute(
        update(PortalSession).where(PortalSession.id == _digest(token)).values(active_tenant=tenant_id)
    )
