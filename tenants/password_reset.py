""" "Forgot password": a single-use link, valid 30 minutes, emailed through the outbox.

`request` answers the same whatever the email: a known, enabled user gets a `password_resets` row and a
send job in the same transaction (the system outbox: a person is no tenant's), an unknown one gets
nothing. The link's token is an HMAC of the row's id under a purpose key of the master key, so the job
makes it again from the id and the database stores only the token's SHA-256 (a copy of the table opens
no reset). `reset` sets the new password once, voids every other open reset of the user and ends every
session they have (tenants/portal_sessions.py): whoever had the old password is signed out.

Resetting the password does not skip two-step verification: the next sign-in still asks for the code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit import actions
from core.clock import Clock
from core.context import Acting, Context
from core.errors import KassaError
from core.ids import new_id
from core.kms import KMS, DecryptionFailed
from core.mail import Mailer
from tenants import portal_sessions
from tenants.models import PasswordReset, User
from tenants.service import hash_password, validate_password
from tenants.sign_in import audit_in_every_tenant

VALID_FOR: Final = timedelta(minutes=30)
PURPOSE: Final = "password-reset"
SEND_JOB: Final = "tenants.jobs.send_password_reset"
#: Links emailed to one address in an hour (each one is an email to someone); more get the same answer.
REQUESTS_PER_HOUR: Final = 5
#: Requests from one client IP in an hour, whatever the addresses (one guesser, many addresses).
REQUESTS_PER_IP_HOUR: Final = 20


class ResetLinkInvalid(KassaError):
    status = 400
    code = "reset_link_invalid"

    def __init__(self) -> None:
        super().__init__("This password reset link has expired or was already used. Ask for a new one below.")


def _token(kms: KMS, *, key_id: bytes, reset_id: str) -> str:
    key = kms.purpose_key(PURPOSE, key_id=key_id)
    mac = hmac.new(key, reset_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request(session: Session, ctx: Context, *, email: str) -> PasswordReset | None:
    """Start a reset for the enabled user with this email (None, and nothing written, for any other):
    the caller shows the same answer either way."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or user.disabled:
        return None
    clock, kms = ctx.clock, ctx.kms
    now = clock.now()
    key_id = kms.current_key_id
    reset = PasswordReset(
        id=new_id("pwr"),
        user_id=user.id,
        key_id=key_id.hex(),
        created_at=now,
        expires_at=now + VALID_FOR,
        used_at=None,
        sent_at=None,
    )
    reset.token_hash = _digest(_token(kms, key_id=key_id, reset_id=reset.id))
    session.add(reset)
    session.flush()
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user.id,
        action=actions.PASSWORD_RESET_REQUESTED,
        details={"reset": reset.id, "expires_at": reset.expires_at.isoformat()},
    )
    ctx.jobs.enqueue(SEND_JOB, tenant_id=None, kwargs={"reset_id": reset.id})
    return reset


def compose(*, to: str, link: str, sender: str, message_id: str, clock: Clock) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Reset your Kassa password"
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = message_id
    message.set_content(
        "Someone (we hope you) asked to reset the password of your Kassa account.\n\n"
        f"Choose a new password here (the link works once, for 30 minutes):\n\n{link}\n\n"
        "If you did not ask for this, ignore this email: your password stays as it is.\n"
        "Resetting your password signs you out everywhere; you still need your authentication app.\n"
    )
    return message


def send(session: Session, ctx: Context, *, reset_id: str, mailer: Mailer, sender: str) -> bool:
    """Email the link of an open, unsent reset (the job; safe to run twice: a sent one is left alone).
    MailUnavailable propagates for the job's retry; the row stays unsent."""
    clock, kms = ctx.clock, ctx.kms
    reset = session.scalar(select(PasswordReset).where(PasswordReset.id == reset_id).with_for_update())
    if reset is None or reset.sent_at is not None or reset.used_at is not None:
        return False
    if reset.expires_at <= clock.now():
        return False
    user = session.get(User, reset.user_id)
    if user is None:
        return False
    token = _token(kms, key_id=bytes.fromhex(reset.key_id), reset_id=reset.id)
    link = f"{ctx.base_url.rstrip('/')}/portal/reset/{token}"
    mailer.send(
        compose(
            to=user.email,
            link=link,
            sender=sender,
            message_id=make_msgid(idstring=reset.id, domain="kassa"),
            clock=clock,
        )
    )
    reset.sent_at = clock.now()
    session.flush()
    return True


def _open_reset(session: Session, *, token: str, clock: Clock, lock: bool = False) -> PasswordReset:
    if not token or len(token) > 100:
        raise ResetLinkInvalid()
    query = select(PasswordReset).where(PasswordReset.token_hash == _digest(token))
    reset = session.scalar(query.with_for_update() if lock else query)
    if reset is None or reset.used_at is not None or reset.expires_at <= clock.now():
        raise ResetLinkInvalid()
    return reset


def check(session: Session, ctx: Acting, *, token: str) -> PasswordReset:
    """The open reset this token names, else `ResetLinkInvalid` (unknown, used or expired alike)."""
    reset = _open_reset(session, token=token, clock=ctx.clock)
    try:
        expected = _token(ctx.kms, key_id=bytes.fromhex(reset.key_id), reset_id=reset.id)
    except DecryptionFailed:  # made under a master key this process no longer holds
        raise ResetLinkInvalid() from None
    if not hmac.compare_digest(expected, token):
        raise ResetLinkInvalid()
    return reset


def reset(session: Session, ctx: Acting, *, token: str, new_password: str) -> tuple[User, int]:
    """Set the new password with an open reset, once; void the user's other resets and end every session
    they have. Returns the user and how many sessions ended. `InvalidInput` for a too short password
    (the link stays usable), `ResetLinkInvalid` for a used or expired link."""
    check(session, ctx, token=token)
    validate_password(new_password)
    clock = ctx.clock
    row = _open_reset(session, token=token, clock=clock, lock=True)  # a concurrent reset waits here
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise ResetLinkInvalid()
    now = clock.now()
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    user.password_hash = hash_password(new_password)
    # A reset is the way back in after guessing locked the account: the lock goes with the old password.
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    ended = portal_sessions.revoke_all(
        session, user_id=user.id, reason=portal_sessions.PASSWORD_RESET, clock=clock
    )
    audit_in_every_tenant(
        session,
        ctx,
        user_id=user.id,
        action=actions.PASSWORD_RESET_COMPLETED,
        details={"reset": row.id, "sessions_revoked": ended},
    )
    return user, ended
