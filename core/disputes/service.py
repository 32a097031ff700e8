"""Disputes: the sandbox opens them for its dispute test cards; merchants answer with evidence.

Lifecycle: needs_response -> (evidence submitted) under_review -> won | lost. The disputed amount and
the dispute fee leave the merchant's available balance when the dispute opens and come back if it is won.
An inquiry (test card 4000 0000 0000 1976) moves no money: lost, it becomes a chargeback (amount + fee
leave then); won, nothing moved.

Sandbox decision rule (docs/payouts.md): evidence whose text contains "losing_evidence" loses; any other
evidence with at least one text field or file wins. No evidence by the due date loses.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import actions
from core.disputes.models import Dispute, DisputeStatus, EvidenceFile
from core.errors import Conflict, InvalidInput, NotFound
from core.events import EventType
from core.ids import has_prefix, new_id
from core.ledger import service as ledger
from core.payments.models import Payment, PaymentStatus
from core.payouts.edge import Ctx, audit, emit
from core.processors.sandbox import TestCards, is_test_card

#: How long after the payment succeeds the sandbox opens the dispute ("within a minute").
SANDBOX_DISPUTE_AFTER: Final = timedelta(seconds=30)
EVIDENCE_WINDOW: Final = timedelta(days=7)
#: The dispute fee, in minor units of the payment's currency.
DISPUTE_FEE: Final = 1500

EVIDENCE_FIELDS: Final = (
    "product_description",
    "customer_communication",
    "shipping_tracking_number",
    "refund_policy",
    "uncategorized_text",
)
MAX_TEXT: Final = 20_000
MAX_FILE_BYTES: Final = 4 * 1024 * 1024
MAX_FILES: Final = 5
#: Content types recognised by their first bytes (the name and the browser's claim are not trusted).
_MAGIC: Final = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def _is_test_card(payment: Payment, card: str) -> bool:
    return is_test_card(
        livemode=payment.livemode, card_bin=payment.card_bin, card_last4=payment.card_last4, card=card
    )


def open_sandbox_disputes(session: Session, ctx: Ctx, *, tenant_id: str) -> list[Dispute]:
    """Open a dispute for each succeeded test payment with a dispute test card, once it is old enough."""
    cutoff = ctx.clock.now() - SANDBOX_DISPUTE_AFTER
    disputed = select(Dispute.payment_id).where(Dispute.tenant_id == tenant_id)
    candidates = session.scalars(
        select(Payment).where(
            Payment.tenant_id == tenant_id,
            Payment.livemode.is_(False),
            Payment.card_last4.in_([TestCards.DISPUTE[-4:], TestCards.DISPUTE_INQUIRY[-4:]]),
            Payment.status.in_([PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED]),
            Payment.created_at <= cutoff,
            Payment.id.not_in(disputed),
        )
    ).all()
    made = []
    for payment in candidates:
        if _is_test_card(payment, TestCards.DISPUTE):
            made.append(open_dispute(session, ctx, payment=payment, reason="fraudulent"))
        elif _is_test_card(payment, TestCards.DISPUTE_INQUIRY):
            made.append(open_dispute(session, ctx, payment=payment, reason="general", inquiry=True))
    return made


def open_dispute(
    session: Session, ctx: Ctx, *, payment: Payment, reason: str, inquiry: bool = False
) -> Dispute:
    amount = payment.amount_captured - payment.amount_refunded
    if amount <= 0:
        raise Conflict("Nothing is left of this payment to dispute.")
    now = ctx.clock.now()
    dispute = Dispute(
        tenant_id=payment.tenant_id,
        id=new_id("dp"),
        payment_id=payment.id,
        amount=amount,
        fee=0 if inquiry else DISPUTE_FEE,
        currency=payment.currency,
        reason=reason,
        status=DisputeStatus.NEEDS_RESPONSE,
        is_inquiry=inquiry,
        evidence_due_by=now + EVIDENCE_WINDOW,
        evidence={},
        created_at=now,
        livemode=payment.livemode,
    )
    session.add(dispute)
    session.flush()
    if not inquiry:
        _withdraw(session, ctx, dispute)
    audit(
        session,
        ctx,
        actions.DISPUTE_CREATED,
        subject=dispute,
        details={"payment": payment.id, "amount": amount, "fee": dispute.fee, "inquiry": inquiry},
    )
    emit(session, ctx, EventType.DISPUTE_CREATED, subject=dispute, data=serialize(dispute))
    return dispute


def _withdraw(session: Session, ctx: Ctx, dispute: Dispute) -> None:
    dispute.fee = dispute.fee or DISPUTE_FEE
    ledger.record_dispute(
        session,
        tenant_id=dispute.tenant_id,
        dispute_id=dispute.id,
        amount=dispute.amount,
        fee=dispute.fee,
        currency=dispute.currency,
        clock=ctx.clock,
        livemode=dispute.livemode,
    )


def get(session: Session, *, tenant_id: str, dispute_id: str) -> Dispute:
    row = session.get(Dispute, (tenant_id, dispute_id)) if has_prefix(dispute_id, "dp") else None
    if row is None:
        raise NotFound("No such dispute.", param="dispute")
    return row


def sniff(content: bytes) -> str | None:
    for magic, content_type in _MAGIC:
        if content.startswith(magic):
            return content_type
    return None


def safe_filename(name: str) -> str:
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if ch.isprintable())
    return base.strip()[:120] or "evidence"


def submit_evidence(
    session: Session,
    ctx: Ctx,
    *,
    tenant_id: str,
    dispute_id: str,
    fields: dict[str, Any],
    files: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
) -> Dispute:
    """Store the evidence and send it: the dispute goes under review (decided by `decide`)."""
    dispute = get(session, tenant_id=tenant_id, dispute_id=dispute_id)
    if dispute.status is not DisputeStatus.NEEDS_RESPONSE:
        raise Conflict("Evidence can only be submitted while the dispute needs a response.")
    if ctx.clock.now() > dispute.evidence_due_by:
        raise Conflict("The evidence due date has passed.")
    unknown = sorted(set(fields) - set(EVIDENCE_FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown evidence field {unknown[0]!r}.", param=unknown[0])
    text: dict[str, str] = {}
    for name, value in fields.items():
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be text.", param=name)
        if len(value) > MAX_TEXT:
            raise InvalidInput(f"{name} is longer than {MAX_TEXT} characters.", param=name)
        text[name] = value
    if len(files) > MAX_FILES:
        raise InvalidInput(f"At most {MAX_FILES} files.", param="files")
    stored = []
    for name, content in files:
        if len(content) > MAX_FILE_BYTES:
            raise InvalidInput(f"{safe_filename(name)} is larger than 4 MB.", param="files")
        content_type = sniff(content)
        if content_type is None:
            raise InvalidInput(f"{safe_filename(name)} is not a PDF, PNG or JPEG file.", param="files")
        stored.append(
            EvidenceFile(
                tenant_id=tenant_id,
                id=new_id("dpf"),
                dispute_id=dispute.id,
                filename=safe_filename(name),
                content_type=content_type,
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                content=content,
                created_at=ctx.clock.now(),
            )
        )
    if not text and not stored:
        raise InvalidInput("Add at least one evidence text field or file.", param="uncategorized_text")
    session.add_all(stored)
    dispute.evidence = text
    dispute.evidence_submitted_at = ctx.clock.now()
    dispute.status = DisputeStatus.UNDER_REVIEW
    session.flush()
    audit(
        session,
        ctx,
        actions.DISPUTE_EVIDENCE_SUBMITTED,
        subject=dispute,
        details={"fields": sorted(text), "files": [f.sha256 for f in stored]},
    )
    emit(session, ctx, EventType.DISPUTE_UPDATED, subject=dispute, data=serialize(dispute))
    return dispute


def files_of(session: Session, *, tenant_id: str, dispute_id: str) -> list[EvidenceFile]:
    return list(
        session.scalars(
            select(EvidenceFile)
            .where(EvidenceFile.tenant_id == tenant_id, EvidenceFile.dispute_id == dispute_id)
            .order_by(EvidenceFile.id)
        )
    )


def decide(session: Session, ctx: Ctx, *, tenant_id: str) -> list[Dispute]:
    """The sandbox bank's ruling on every dispute under review, and on every one past its due date."""
    now = ctx.clock.now()
    open_ = session.scalars(
        select(Dispute).where(
            Dispute.tenant_id == tenant_id,
            Dispute.status.in_([DisputeStatus.UNDER_REVIEW, DisputeStatus.NEEDS_RESPONSE]),
        )
    ).all()
    closed = []
    for dispute in open_:
        if dispute.status is DisputeStatus.NEEDS_RESPONSE:
            if now > dispute.evidence_due_by:
                closed.append(close(session, ctx, dispute, won=False))
            continue
        losing = any("losing_evidence" in value for value in dispute.evidence.values())
        closed.append(close(session, ctx, dispute, won=not losing))
    return closed


def close(session: Session, ctx: Ctx, dispute: Dispute, *, won: bool) -> Dispute:
    if dispute.status in (DisputeStatus.WON, DisputeStatus.LOST):
        return dispute
    if won and not dispute.is_inquiry:
        ledger.record_dispute_reversal(
            session,
            tenant_id=dispute.tenant_id,
            dispute_id=dispute.id,
            amount=dispute.amount,
            fee=dispute.fee,
            currency=dispute.currency,
            clock=ctx.clock,
            livemode=dispute.livemode,
        )
    if not won and dispute.is_inquiry:
        _withdraw(session, ctx, dispute)  # an inquiry lost becomes a chargeback
    dispute.status = DisputeStatus.WON if won else DisputeStatus.LOST
    dispute.closed_at = ctx.clock.now()
    session.flush()
    audit(session, ctx, actions.DISPUTE_CLOSED, subject=dispute, details={"status": str(dispute.status)})
    emit(session, ctx, EventType.DISPUTE_CLOSED, subject=dispute, data=serialize(dispute))
    return dispute


def serialize(dispute: Dispute) -> dict[str, object]:
    return {
        "id": dispute.id,
        "object": "dispute",
        "payment": dispute.payment_id,
        "amount": dispute.amount,
        "fee": dispute.fee,
        "currency": dispute.currency,
        "reason": dispute.reason,
        "status": str(dispute.status),
        "is_inquiry": dispute.is_inquiry,
        "evidence_due_by": int(dispute.evidence_due_by.timestamp()),
        "evidence_submitted": dispute.evidence_submitted_at is not None,
        "created_at": int(dispute.created_at.timestamp()),
        "livemode": dispute.livemode,
    }
