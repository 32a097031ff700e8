"""Managing a tenant's API keys: create a restricted one, list, roll (replace with an overlap) and revoke.

A secret key holds every permission of its mode; a restricted key (also `sk_…`) holds only the
permissions it was created with (tenants/permissions.py), and its replacement after a roll holds the same.

Rolling a key issues a new one of the same kind and mode, shown once, and leaves the old one working for
an overlap (24 hours unless told otherwise, at most 7 days) so the merchant can deploy the new key
without downtime; an overlap of zero revokes the old key at once. A revoked key, or a rolled one past its
overlap, is refused with 401 at every use, and every such use is audited in its tenant's chain
(`api_key.refused`).

The API manages only keys of its caller's mode (a test key cannot roll or revoke a live key: that would
stop live payments); the CLI, run by an operator, manages any.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.context import Acting
from core.db import get_by_id
from core.errors import Conflict, InvalidInput, NotFound
from tenants import permissions as perms
from tenants.models import ApiKey, KeyKind, KeyMode
from tenants.permissions import Permission
from tenants.resolution import KeyOwner
from tenants.service import issue_key_record

DEFAULT_OVERLAP: Final = timedelta(hours=24)
MAX_OVERLAP: Final = timedelta(days=7)


@dataclass(frozen=True)
class RolledKey:
    """The new key (its full text shown once, in `key`) and the old one it replaces."""

    new: ApiKey
    key: str
    old: ApiKey


def status_of(record: ApiKey, now: datetime) -> str:
    """`active`, `expiring` (rolled, still in its overlap), `expired` (past it) or `revoked`."""
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None:
        return "expiring" if now < record.expires_at else "expired"
    return "active"


def serialize(record: ApiKey, *, now: datetime) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "api_key",
        "kind": str(record.kind),
        "livemode": record.mode is KeyMode.LIVE,
        "display": record.display,
        "status": status_of(record, now),
        "created_at": int(record.created_at.timestamp()),
        "expires_at": int(record.expires_at.timestamp()) if record.expires_at else None,
        "revoked_at": int(record.revoked_at.timestamp()) if record.revoked_at else None,
        # null: every permission of its mode; a list: a restricted key's permissions.
        "permissions": perms.stored(permissions_of(record)) if record.kind is KeyKind.SECRET else None,
    }


def permissions_of(record: ApiKey) -> frozenset[Permission]:
    return perms.of_key(record.permissions)


def create_restricted(
    session: Session,
    ctx: Acting,
    *,
    tenant_id: str,
    mode: KeyMode,
    permissions: frozenset[Permission],
) -> tuple[ApiKey, str]:
    """A new secret key that holds only `permissions`; the full key is returned once, never stored."""
    if not permissions:
        raise InvalidInput("A restricted key needs at least one permission.", param="permissions")
    names = perms.stored(permissions)
    record, key = issue_key_record(
        session,
        ctx,
        tenant_id=tenant_id,
        kind=KeyKind.SECRET,
        mode=mode,
        details={"permissions": ",".join(names) if names is not None else "all"},
    )
    record.permissions = names
    session.flush()
    return record, key


def list_keys(session: Session, *, livemode: bool | None) -> list[ApiKey]:
    """The current tenant's keys, oldest first (of one mode, or of both for `livemode=None`)."""
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if livemode is not None:
        statement = statement.where(ApiKey.mode == _mode(livemode))
    return list(session.scalars(statement))


def get_key(session: Session, *, key_id: str, livemode: bool | None, lock: bool = False) -> ApiKey:
    """A key of the current tenant; another tenant's, or (with `livemode`) another mode's, is not found."""
    record = get_by_id(session, ApiKey, key_id, prefix="key", what="API key", lock=lock)
    if livemode is not None and record.mode is not _mode(livemode):
        raise NotFound(f"No such API key: {key_id!r}.", param="id")
    return record


def overlap_from_seconds(value: object) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OVERLAP.total_seconds():
        raise InvalidInput(
            f"overlap_seconds must be a whole number from 0 (revoke the old key at once) to "
            f"{int(MAX_OVERLAP.total_seconds())} (7 days).",
            param="overlap_seconds",
        )
    return timedelta(seconds=value)


def roll(
    session: Session,
    ctx: Acting,
    *,
    key_id: str,
    livemode: bool | None,
    overlap: timedelta,
) -> RolledKey:
    """Issue a replacement for `key_id` and let the old key work for `overlap` more (zero: revoke it now).

    A key already rolled may be rolled again (say, after its new key was lost): the old key's end is never
    pushed later, and the earlier replacement stays valid until revoked."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise InvalidInput("The overlap must be between 0 and 7 days.", param="overlap_seconds")
    old = get_key(session, key_id=key_id, livemode=livemode, lock=True)
    now = ctx.clock.now()
    if not old.usable_at(now):
        raise Conflict(
            f"API key {old.id} is {status_of(old, now)}: only a working key can be rolled. "
            "Roll the key that replaced it instead.",
            param="id",
        )
    new, key = issue_key_record(
        session,
        ctx,
        tenant_id=old.tenant_id,
        kind=old.kind,
        mode=old.mode,
        details={"rolled_from": old.id},
    )
    new.permissions = old.permissions  # a restricted key's replacement is restricted the same way
    if overlap == timedelta(0):
        old.revoked_at = now
    else:
        ends = now + overlap
        old.expires_at = ends if old.expires_at is None else min(old.expires_at, ends)
    session.flush()
    audit.record(
        session,
        ctx,
        actions.API_KEY_ROLLED,
        subject=old,
        details={
            "replaced_by": new.id,
            "overlap_seconds": int(overlap.total_seconds()),
            "expires_at": old.expires_at.isoformat() if old.expires_at else None,
            "revoked_at": old.revoked_at.isoformat() if old.revoked_at else None,
        },
    )
    return RolledKey(new=new, key=key, old=old)


def revoke(session: Session, ctx: Acting, *, key_id: str, livemode: bool | None) -> ApiKey:
    """Revoke a key now: every later use is refused (401) and audited. A revoked key stays revoked (asking
    again changes nothing)."""
    record = get_key(session, key_id=key_id, livemode=livemode, lock=True)
    if record.revoked_at is not None:
        return record
    record.revoked_at = ctx.clock.now()
    session.flush()
    audit.record(
        session,
        ctx,
        actions.API_KEY_REVOKED,
        subject=record,
        details={"kind": str(record.kind), "mode": str(record.mode)},
    )
    return record


def record_refused_use(session: Session, ctx: Acting, *, owner: KeyOwner, reason: str) -> None:
    """Audit a use of a revoked or expired key, in its tenant's chain (the session is bound to it)."""
    audit.record(
        session,
        ctx,
        actions.API_KEY_REFUSED,
        subject=audit.Ref("api_key", owner.key_id, owner.tenant_id),
        outcome=Outcome.DENIED,
        details={"reason": reason, "kind": str(owner.kind), "mode": str(owner.mode)},
    )


def refusal_message(owner: KeyOwner, reason: str) -> str:
    kind = "secret" if owner.kind is KeyKind.SECRET else "publishable"
    if reason == "expired":
        return (
            f"This {kind} key was rolled and its overlap has ended. Use the key that replaced it "
            "(shown once by the roll)."
        )
    return f"This {kind} key was revoked. Use a current key, or roll one with `kassa keys roll`."


def _mode(livemode: bool) -> KeyMode:
    return KeyMode.LIVE if livemode else KeyMode.TEST
