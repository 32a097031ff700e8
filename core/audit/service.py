"""Recording and verifying the audit trail."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.audit.models import ActorType, AuditEvent, Outcome
from core.clock import Clock
from core.ids import new_id
from core.kms import KMS
from core.vault import keys as vault_keys

GENESIS = "0" * 64
AUDIT_PURPOSE = "audit"


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str
    origin_ip: str | None = None
    request_id: str | None = None

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(ActorType.SYSTEM, name)


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
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _details_context(tenant_id: str) -> str:
    return f"audit.details:{tenant_id}"


def record(
    session: Session,
    *,
    tenant_id: str,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: str,
    clock: Clock,
    kms: KMS,
    outcome: Outcome = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the tenant's chain, in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # One writer per tenant chain at a time; released at commit, so a chain never forks.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:t, 7))"), {"t": tenant_id})
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.tenant_id == tenant_id)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
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
        seq=(last.seq + 1) if last else 1,
        occurred_at=clock.now(),
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        outcome=outcome,
        origin_ip=actor.origin_ip,
        request_id=actor.request_id,
        details_encrypted=sealed,
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = _digest(event)
    session.add(event)
    session.flush()
    return event


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


def verify(session: Session, *, tenant_id: str) -> list[str]:
    """Walk the tenant's chain; return a description of every break (empty: the chain is intact)."""
    problems: list[str] = []
    expected_prev, expected_seq = GENESIS, 1
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
    return problems
