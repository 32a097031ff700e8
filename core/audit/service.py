"""Recording and verifying the audit trail."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit.models import AuditEvent, AuditHead, Outcome
from core.clock import Clock
from core.context import Acting, Actor
from core.db import transaction_memo
from core.ids import new_id
from core.keys import service as vault_keys
from core.kms import KMS, DecryptionFailed

GENESIS = "0" * 64
AUDIT_PURPOSE = "audit"
#: The KMS purpose key that signs chain heads: derived from the master key, never stored.
HEAD_PURPOSE = "audit-head"


class Subject(Protocol):
    """What an audit event is about: a model declaring `__subject__` (`"payment"`, `"api_key"` …)."""

    __subject__: ClassVar[str]

    @property
    def id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...


@dataclass(frozen=True)
class Ref:
    """A subject named rather than loaded (a user whose sign-in failed, a tenant, a purged batch)."""

    type: str
    id: str
    tenant_id: str


def _digest(event: AuditEvent) -> str:
    details = hashlib.sha256(event.details_encrypted).hexdigest() if event.details_encrypted else ""
    body = json.dumps(
        [
            event.tenant_id,
            event.id,
            event.seq,
            event.occurred_at.isoformat(),
            str(event.actor_type),
            event.actor_id,
            event.action,
            event.subject_type,
            event.subject_id,
            str(event.outcome),
            event.origin_ip,
            event.request_id,
            details,
            event.prev_hash,
            # Appended only when set: events from before the column existed keep their hashes.
            *([event.user_agent] if event.user_agent is not None else []),
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _details_context(tenant_id: str) -> str:
    return f"audit.details:{tenant_id}"


def record(
    session: Session,
    ctx: Acting,
    action: str,
    *,
    subject: Subject | Ref,
    details: dict[str, Any] | None = None,
    outcome: Outcome = Outcome.SUCCESS,
) -> AuditEvent:
    """Append one event about `subject` to its tenant's chain, as `ctx.actor`, in the caller's transaction.

    audit.record(session, ctx, actions.REFUND_CREATED, subject=refund, details={"amount": 500})
    """
    subject_type = subject.type if isinstance(subject, Ref) else type(subject).__subject__
    return _append(
        session,
        tenant_id=subject.tenant_id,
        actor=ctx.actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject.id,
        clock=ctx.clock,
        kms=ctx.kms,
        outcome=outcome,
        details=details,
    )


def _append(
    session: Session,
    *,
    tenant_id: str,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: str,
    clock: Clock,
    kms: KMS,
    outcome: Outcome,
    details: dict[str, Any] | None,
) -> AuditEvent:
    """Append one event to the tenant's chain and move its signed head, in the caller's transaction.

    On PostgreSQL the first append of a transaction reads the head row FOR UPDATE (it serializes the
    tenant's writers, so a chain never forks, and replaces the advisory lock and the read of the newest
    event); later appends in the same transaction hold that lock and reuse the head they moved
    (`transaction_memo`). Nothing is flushed here: the next flush writes the transaction's new events in
    one INSERT and the head once.
    """
    heads: dict[str, AuditHead] = transaction_memo(session).setdefault("audit_heads", {})
    head = heads.get(tenant_id)
    if head is None:
        head = _head(session, tenant_id, for_update=True)
        if head is not None:
            heads[tenant_id] = head
    last = (head.seq, head.hash) if head is not None else _unsigned_tail(session, tenant_id)
    sealed = None
    if details is not None:
        plaintext = json.dumps(details, sort_keys=True, default=str).encode()
        # Under the tenant's audit data key (envelope): a master-key rotation re-wraps that key and never
        # touches these bytes, which the hash chain covers.
        sealed = vault_keys.seal(
            session,
            tenant_id=tenant_id,
            purpose=AUDIT_PURPOSE,
            plaintext=plaintext,
            kms=kms,
            aad=_details_context(tenant_id).encode(),
            clock=clock,
        )
    event = AuditEvent(
        tenant_id=tenant_id,
        id=new_id("aud"),
        seq=(last[0] + 1) if last else 1,
        occurred_at=clock.now(),
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        outcome=outcome,
        origin_ip=actor.origin_ip,
        request_id=actor.request_id,
        user_agent=actor.user_agent[:300] if actor.user_agent else None,
        details_encrypted=sealed,
        prev_hash=last[1] if last else GENESIS,
    )
    event.hash = _digest(event)
    session.add(event)
    if head is not None:
        _sign(head, seq=event.seq, hash_=event.hash, kms=kms, clock=clock)
    elif last is None and action == actions.TENANT_CREATED:
        head = AuditHead(tenant_id=tenant_id, id=new_id("aud"))
        _sign(head, seq=event.seq, hash_=event.hash, kms=kms, clock=clock)
        session.add(head)
        heads[tenant_id] = head
    # else: a chain with no head (its head deleted, with or without its events, or older than signed
    # heads) stays unsigned, so `verify` keeps saying so: only a new tenant's chain starts a head, and
    # only `adopt_head`, run by an operator, signs another.
    return event


def _head(session: Session, tenant_id: str, *, for_update: bool = False) -> AuditHead | None:
    query = select(AuditHead).where(AuditHead.tenant_id == tenant_id)
    return session.scalar(query.with_for_update() if for_update else query)


def _unsigned_tail(session: Session, tenant_id: str) -> tuple[int, str] | None:
    """(seq, hash) of the newest event of a chain that has no head (a new tenant's: none)."""
    if session.get_bind().dialect.name == "postgresql":
        # No head row to lock yet: one writer per tenant chain at a time, released at commit.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:t, 7))"), {"t": tenant_id})
    row = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.tenant_id == tenant_id)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def _head_message(tenant_id: str, seq: int, hash_: str) -> bytes:
    return b"\x00".join((b"kassa-audit-head-v1", tenant_id.encode(), str(seq).encode(), hash_.encode()))


def _head_mac(kms: KMS, *, key_id: bytes, tenant_id: str, seq: int, hash_: str) -> str:
    key = kms.purpose_key(HEAD_PURPOSE, key_id=key_id)
    return hmac.new(key, _head_message(tenant_id, seq, hash_), hashlib.sha256).hexdigest()


def _sign(head: AuditHead, *, seq: int, hash_: str, kms: KMS, clock: Clock) -> None:
    key_id = kms.current_key_id
    head.seq, head.hash, head.key_id, head.updated_at = seq, hash_, key_id.hex(), clock.now()
    head.mac = _head_mac(kms, key_id=key_id, tenant_id=head.tenant_id, seq=seq, hash_=hash_)


def head_is_authentic(head: AuditHead, *, kms: KMS) -> bool:
    """Whether the head's MAC is right under the master key it names; `DecryptionFailed` if that key is
    not held by this process."""
    expected = _head_mac(
        kms, key_id=bytes.fromhex(head.key_id), tenant_id=head.tenant_id, seq=head.seq, hash_=head.hash
    )
    return hmac.compare_digest(expected, head.mac)


def resign_head(head: AuditHead, *, kms: KMS, clock: Clock) -> bool:
    """Sign an authentic head again under the current master key (master-key rotation); False, and no
    change, if it does not verify under its own key: re-signing it would launder a tampered head."""
    if not head_is_authentic(head, kms=kms):
        return False
    _sign(head, seq=head.seq, hash_=head.hash, kms=kms, clock=clock)
    return True


def read_details(session: Session, event: AuditEvent, *, kms: KMS) -> dict[str, Any] | None:
    if event.details_encrypted is None:
        return None
    plaintext = vault_keys.unseal(
        session,
        tenant_id=event.tenant_id,
        purpose=AUDIT_PURPOSE,
        blob=event.details_encrypted,
        kms=kms,
        aad=_details_context(event.tenant_id).encode(),
    )
    data: dict[str, Any] = json.loads(plaintext)
    return data


def verify(session: Session, *, tenant_id: str, kms: KMS) -> list[str]:
    """Walk the tenant's chain and check its end against the signed head; return a description of every
    break, each naming the event (or the sequence numbers) and what is wrong (empty: intact)."""
    problems, last, count = _walk(session, tenant_id)
    problems.extend(_check_head(session, tenant_id=tenant_id, last=last, count=count, kms=kms))
    return problems


def _walk(session: Session, tenant_id: str) -> tuple[list[str], AuditEvent | None, int]:
    """The chain's own breaks, its newest event and its length."""
    problems: list[str] = []
    expected_prev, expected_seq = GENESIS, 1
    count, last = 0, None
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq)
    )
    for event in rows:
        if event.seq != expected_seq:
            problems.append(
                f"event {event.id}: sequence {event.seq}, expected {expected_seq} (a row is missing)"
            )
        if event.prev_hash != expected_prev:
            problems.append(f"event {event.id} (seq {event.seq}): does not follow the previous event")
        if _digest(event) != event.hash:
            problems.append(f"event {event.id} (seq {event.seq}): content does not match its hash (edited)")
        expected_prev, expected_seq = event.hash, event.seq + 1
        count, last = count + 1, event
    return problems, last, count


def _check_head(
    session: Session, *, tenant_id: str, last: AuditEvent | None, count: int, kms: KMS
) -> list[str]:
    head = _head(session, tenant_id)
    if head is None:
        if last is None:
            return [
                "no events and no signed head: every tenant records tenant.created when it is made, so "
                "the whole chain and its head were deleted"
            ]
        return [
            f"{count} event(s) but no signed head: the audit_heads row was deleted (the newest events may "
            "be gone with it), or the chain was recorded before heads were signed (migration 0015). After "
            "checking the chain against a backup, sign its current end with `kassa audit verify --adopt`"
        ]
    try:
        authentic = head_is_authentic(head, kms=kms)
    except DecryptionFailed:
        return [
            f"the head is signed with master key {head.key_id}, which this process does not hold: add "
            "that key to KASSA_PREVIOUS_MASTER_KEYS (and finish `kassa keys rotate`), then verify again"
        ]
    if not authentic:
        return [
            f"the signed head (seq {head.seq}) fails its signature check: the audit_heads row was "
            "altered outside Kassa, so the end of the chain cannot be trusted"
        ]
    if last is None:
        return [f"the chain is empty but the signed head is at seq {head.seq}: every event was deleted"]
    if last.seq < head.seq:
        return [
            f"the chain ends at event {last.id} (seq {last.seq}) but the signed head is at seq {head.seq}: "
            f"the newest {head.seq - last.seq} event(s) (seq {last.seq + 1} to {head.seq}) were deleted"
        ]
    if last.seq > head.seq:
        return [
            f"events after the signed head (seq {head.seq + 1} to {last.seq}, newest {last.id}) were "
            "added outside Kassa, or the head was rolled back"
        ]
    if last.hash != head.hash:
        return [
            f"the newest event {last.id} (seq {last.seq}) is not the one the head signed: the chain was "
            "rewritten (events edited, replaced or reordered and their hashes recomputed)"
        ]
    return []


def current_head(session: Session, *, tenant_id: str) -> str | None:
    """`seq:hash:mac` of the tenant's signed head (not secret), or None."""
    head = _head(session, tenant_id)
    return f"{head.seq}:{head.hash}:{head.mac}" if head is not None else None


def adopt_head(session: Session, *, tenant_id: str, kms: KMS, clock: Clock) -> AuditHead | None:
    """Sign the current end of a chain that has no head (recorded before heads were signed): once, by an
    operator. None, and nothing signed, if the chain has a head already, is empty or is broken."""
    if _head(session, tenant_id) is not None:
        return None
    _unsigned_tail(session, tenant_id)  # takes the chain's lock
    problems, last, _count = _walk(session, tenant_id)
    if problems or last is None:
        return None
    head = AuditHead(tenant_id=tenant_id, id=new_id("aud"))
    _sign(head, seq=last.seq, hash_=last.hash, kms=kms, clock=clock)
    session.add(head)
    session.flush()
    return head
