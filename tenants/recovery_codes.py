"""One-time recovery codes: ten per user, shown once, each signs in once instead of an authentication code.

A code is 10 characters of Crockford base32 (50 bits from the OS random source), shown as `xxxxx-xxxxx`.
Only an HMAC of it is stored, under a purpose key of the master key (core/kms.py): a copy of the table
alone does not let anyone test guesses offline. Online guessing meets the same limits as a wrong
authentication code (the per-sign-in code limiter and the account lockout, tenants/sign_in.py).

Making a new set (at enrollment, or "Regenerate" on the account page) voids every code of the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.clock import Clock
from core.ids import new_id
from core.kms import KMS, DecryptionFailed
from tenants.models import RecoveryCode

COUNT: Final = 10
PURPOSE: Final = "recovery-codes"
_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
_LENGTH: Final = 10
#: What a person may type for the letters Crockford base32 leaves out.
_READ_AS: Final = str.maketrans({"o": "0", "i": "1", "l": "1", "u": "v"})


def normalize(code: str) -> str | None:
    """The code as stored (lower case, no dash or spaces), or None if it cannot be a recovery code."""
    cleaned = code.strip().lower().replace("-", "").replace(" ", "").translate(_READ_AS)
    if len(cleaned) != _LENGTH or any(ch not in _ALPHABET for ch in cleaned):
        return None
    return cleaned


def looks_like_recovery_code(code: str) -> bool:
    return normalize(code) is not None


def _mac(kms: KMS, *, key_id: bytes, user_id: str, code: str) -> str:
    key = kms.purpose_key(PURPOSE, key_id=key_id)
    return hmac.new(key, f"{user_id}\x00{code}".encode(), hashlib.sha256).hexdigest()


def _new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def display(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def generate(session: Session, *, user_id: str, kms: KMS, clock: Clock) -> list[str]:
    """A new set of `COUNT` codes for the user, replacing every earlier one; returned for showing once."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    key_id = kms.current_key_id
    codes = [_new_code() for _ in range(COUNT)]
    now = clock.now()
    session.add_all(
        RecoveryCode(
            id=new_id("rc"),
            user_id=user_id,
            code_hash=_mac(kms, key_id=key_id, user_id=user_id, code=code),
            key_id=key_id.hex(),
            created_at=now,
            used_at=None,
        )
        for code in codes
    )
    session.flush()
    return [display(code) for code in codes]


def use(session: Session, *, user_id: str, code: str, kms: KMS, clock: Clock) -> bool:
    """Accept an unused code of the user once, even from two concurrent requests (a conditional UPDATE:
    the second finds it used)."""
    cleaned = normalize(code)
    if cleaned is None:
        return False
    key_ids = session.scalars(
        select(RecoveryCode.key_id)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        .distinct()
    ).all()
    for key_id in key_ids:
        try:
            digest = _mac(kms, key_id=bytes.fromhex(key_id), user_id=user_id, code=cleaned)
        except DecryptionFailed:  # made under a master key this process no longer holds
            continue
        won = session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_hash == digest,
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=clock.now())
            .execution_options(synchronize_session=False)
        )
        if won.rowcount:  # type: ignore[attr-defined]
            return True
    return False


def remaining(session: Session, *, user_id: str) -> int:
    """How many of the user's codes are still unused (the account page says so)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )
