"""Queuing and sending emailed receipts.

A checkout's automatic receipt is queued by the job its completing transaction wrote to the outbox
(`receipt_for_checkout`: a committed payment always gets its receipt, a rolled-back one never does); a
shopper's request on the receipt page is queued in the transaction that takes it. Either way the send job
goes in the same transaction's outbox. Sending locks the row, so two runs of the job send once; a crash
between the mail server's acceptance and our commit can send twice, with the same Message-ID.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import JSON, String, column, select, table
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.context import Context
from core.db import get_by_id
from core.errors import InvalidInput, KassaError
from core.geo import CHECKOUT_LOCALES, is_email
from core.ids import new_id
from core.mail import Mailer, MailRejected, mask_email, mask_emails_in
from core.payments.models import CheckoutSession, Payment, PaymentStatus, SessionStatus
from core.ratelimit import RateLimiter
from core.receipts.message import ReceiptContent, compose
from core.receipts.models import Receipt, ReceiptStatus
from core.redis import RedisClient

log = logging.getLogger(__name__)

SEND_JOB: Final = "core.receipts.jobs.send_receipt"
#: Seconds before each new try after the mail server was unavailable; after the last, the receipt fails.
RETRY_DELAYS: Final = (30, 120, 600, 1800, 7200)
#: Receipts a shopper may ask for on one receipt page, per hour (each is an email to any address).
REQUESTS_PER_HOUR: Final = 3
#: A queued receipt this far past its due time has lost its job (see `requeue_stuck`).
STUCK_AFTER: Final = timedelta(minutes=5)
_TENANTS = table(
    "tenants",
    column("id", String),
    column("name", String),
    column("checkout_settings", JSON),
    column("live_checkout_settings", JSON),
    column("business_profile", JSON),
)


class TooManyReceipts(KassaError):
    status = 429
    code = "rate_limited"


class SessionNotComplete(KassaError):
    status = 409
    code = "checkout_session_not_complete"


def request_limiter(redis: RedisClient) -> RateLimiter:
    """The per-checkout-session limit on receipts asked for from the receipt page."""
    return RateLimiter(redis, name="receipt-requests", limit=REQUESTS_PER_HOUR, window_seconds=3600)


def message_id_for(receipt_id: str) -> str:
    return f"<{receipt_id}@kassa>"


def _audit(
    session: Session,
    ctx: Context,
    receipt: Receipt,
    action: str,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
) -> None:
    details = {"payment": receipt.payment_id, "to": mask_email(receipt.email), **(details or {})}
    audit.record(session, ctx, action, subject=receipt, outcome=outcome, details=details)


def queue(
    session: Session,
    ctx: Context,
    *,
    payment: Payment,
    email: str,
    locale: str,
    receipt_id: str | None = None,
) -> Receipt:
    """A new receipt of `payment` to `email`, with its send job in the same transaction's outbox."""
    receipt_id = receipt_id or new_id("rcpt")
    receipt = Receipt(
        tenant_id=payment.tenant_id,
        id=receipt_id,
        payment_id=payment.id,
        email=email,
        locale=locale if locale in CHECKOUT_LOCALES else "en",
        status=ReceiptStatus.QUEUED,
        attempts=0,
        next_attempt_at=ctx.clock.now(),
        message_id=message_id_for(receipt_id),
        created_at=ctx.clock.now(),
    )
    session.add(receipt)
    session.flush()
    _audit(
        session,
        ctx,
        receipt,
        actions.RECEIPT_QUEUED,
    )
    ctx.jobs.enqueue(
        SEND_JOB,
        tenant_id=receipt.tenant_id,
        kwargs={"tenant_id": receipt.tenant_id, "receipt_id": receipt.id},
    )
    return receipt


def queue_for_completed_checkout(
    session: Session, ctx: Context, *, checkout_session_id: str, receipt_id: str
) -> Receipt | None:
    """The automatic receipt of a checkout that just completed, if the shopper or merchant gave an address.

    `receipt_id` comes from the completion's event (core/receipts/jobs.py): a second run of the job finds
    that receipt and queues nothing more."""
    cs = get_by_id(
        session, CheckoutSession, checkout_session_id, prefix="cs", what="checkout session", lock=True
    )
    if cs.status is not SessionStatus.COMPLETE or cs.payment_id is None:
        return None
    existing = session.scalar(select(Receipt).where(Receipt.id == receipt_id))
    if existing is not None:
        return existing
    payment = get_by_id(session, Payment, cs.payment_id, prefix="pay", what="payment")
    email = automatic_address(session, payment, cs)
    if not email:
        return None
    return queue(session, ctx, payment=payment, email=email, locale=cs.locale or "en", receipt_id=receipt_id)


def automatic_address(session: Session, payment: Payment, cs: CheckoutSession) -> str | None:
    """Where the automatic receipt of a completed checkout goes (the worker queues it moments after the
    payment succeeds: the receipt page says it is on its way before the row exists), or None: no address,
    or the tenant turned automatic receipts off for this mode."""
    email = payment.customer_email or cs.customer_email
    if not email or not _automatic_receipts_on(
        session, tenant_id=payment.tenant_id, livemode=payment.livemode
    ):
        return None
    return email


def _automatic_receipts_on(session: Session, *, tenant_id: str, livemode: bool) -> bool:
    """The tenant's switch for this mode (`receipt_emails` in its checkout settings, on until turned
    off: tenants/checkout_settings.py writes it). A shopper's own request is answered either way."""
    settings = _TENANTS.c.live_checkout_settings if livemode else _TENANTS.c.checkout_settings
    stored = session.scalar(select(settings).where(_TENANTS.c.id == tenant_id)) or {}
    return bool(stored.get("receipt_emails", True))


def request(
    session: Session, ctx: Context, *, cs: CheckoutSession, email: str, locale: str, limiter: RateLimiter
) -> Receipt:
    """The shopper asks for a receipt of a completed checkout at `email` (the receipt page's form)."""
    address = email.strip().lower()
    if not is_email(address):
        raise InvalidInput("Enter a valid email address.", param="email")
    if cs.status is not SessionStatus.COMPLETE or cs.payment_id is None:
        raise SessionNotComplete("This payment is not complete yet.")
    if limiter.hit(cs.id) > limiter.limit:
        raise TooManyReceipts("Too many receipts were requested for this payment. Try again later.")
    payment = get_by_id(session, Payment, cs.payment_id, prefix="pay", what="payment")
    return queue(session, ctx, payment=payment, email=address, locale=locale)


def of_payment(session: Session, *, payment_id: str) -> list[Receipt]:
    """A payment's receipts, oldest first."""
    return list(session.scalars(select(Receipt).where(Receipt.payment_id == payment_id).order_by(Receipt.id)))


def get(session: Session, *, receipt_id: str, lock: bool = False) -> Receipt:
    return get_by_id(session, Receipt, receipt_id, prefix="rcpt", what="receipt", lock=lock)


def send(session: Session, ctx: Context, *, receipt_id: str, mailer: Mailer, sender: str) -> Receipt:
    """Email a queued receipt; a no-op for one already sent or failed (the job may run twice).

    Raises MailUnavailable for the caller to count the try and back off (`record_unavailable`), after this
    transaction rolls back. A refusal for good (MailRejected) fails the receipt here.
    """
    receipt = get(session, receipt_id=receipt_id, lock=True)
    if receipt.status is not ReceiptStatus.QUEUED:
        return receipt
    now = ctx.clock.now()
    message = compose(
        _content(session, receipt),
        to=receipt.email,
        sender=sender,
        message_id=receipt.message_id,
        locale=receipt.locale,
        now=now,
    )
    receipt.attempts += 1
    try:
        mailer.send(message)
    except MailRejected as exc:
        return _give_up(session, ctx, receipt, error=str(exc))
    receipt.status = ReceiptStatus.SENT
    receipt.sent_at = now
    receipt.next_attempt_at = None
    receipt.last_error = None
    _audit(
        session,
        ctx,
        receipt,
        actions.RECEIPT_SENT,
        details={"message_id": receipt.message_id, "attempts": receipt.attempts},
    )
    log.info("receipt %s sent to %s", receipt.id, mask_email(receipt.email))
    return receipt


def record_unavailable(session: Session, ctx: Context, *, receipt_id: str, error: str) -> Receipt:
    """Count a try the mail server did not take; queue the next one after a back-off, or give up."""
    receipt = get(session, receipt_id=receipt_id, lock=True)
    if receipt.status is not ReceiptStatus.QUEUED:
        return receipt
    receipt.attempts += 1
    if receipt.attempts > len(RETRY_DELAYS):
        return _give_up(session, ctx, receipt, error=error)
    receipt.last_error = mask_emails_in(error)[:500]
    delay = RETRY_DELAYS[receipt.attempts - 1]
    receipt.next_attempt_at = ctx.clock.now() + timedelta(seconds=delay)
    ctx.jobs.enqueue(
        SEND_JOB,
        tenant_id=receipt.tenant_id,
        kwargs={"tenant_id": receipt.tenant_id, "receipt_id": receipt.id},
        delay=timedelta(seconds=delay),
    )
    log.warning(
        "receipt %s to %s not sent (try %d), next try in %d s: %s",
        receipt.id,
        mask_email(receipt.email),
        receipt.attempts,
        delay,
        receipt.last_error,
    )
    return receipt


def requeue_stuck(session: Session, ctx: Context) -> int:
    """Queue the send job again for the current tenant's receipts that lost theirs (a worker killed
    mid-send, a flushed Redis): still queued long after they were due. If the first job was only slow, the
    row lock and the status check make the second one a no-op. Returns how many were queued again."""
    now = ctx.clock.now()
    stuck = session.scalars(
        select(Receipt).where(
            Receipt.status == ReceiptStatus.QUEUED, Receipt.next_attempt_at < now - STUCK_AFTER
        )
    ).all()
    for receipt in stuck:
        receipt.next_attempt_at = now
        ctx.jobs.enqueue(
            SEND_JOB,
            tenant_id=receipt.tenant_id,
            kwargs={"tenant_id": receipt.tenant_id, "receipt_id": receipt.id},
        )
    return len(stuck)


def _give_up(session: Session, ctx: Context, receipt: Receipt, *, error: str) -> Receipt:
    receipt.status = ReceiptStatus.FAILED
    receipt.next_attempt_at = None
    receipt.last_error = mask_emails_in(error)[:500]
    _audit(
        session,
        ctx,
        receipt,
        actions.RECEIPT_FAILED,
        outcome=Outcome.FAILURE,
        details={"error": receipt.last_error, "attempts": receipt.attempts},
    )
    log.error(
        "receipt %s to %s failed after %d tries: %s",
        receipt.id,
        mask_email(receipt.email),
        receipt.attempts,
        receipt.last_error,
    )
    return receipt


def _content(session: Session, receipt: Receipt) -> ReceiptContent:
    payment = get_by_id(session, Payment, receipt.payment_id, prefix="pay", what="payment")
    cs = get_by_id(
        session, CheckoutSession, payment.checkout_session_id, prefix="cs", what="checkout session"
    )
    tenant = session.execute(
        select(
            _TENANTS.c.name,
            (_TENANTS.c.live_checkout_settings if payment.livemode else _TENANTS.c.checkout_settings).label(
                "settings"
            ),
            _TENANTS.c.business_profile,
        ).where(_TENANTS.c.id == receipt.tenant_id)
    ).one()
    # The checkout's display name in the payment's mode, as on the hosted page (checkout/branding.py).
    shop = str((tenant.settings or {}).get("display_name") or tenant.name)
    # The business behind the shop (tenants/business_profile.py writes it): shown at the receipt's foot.
    profile = tenant.business_profile or {}
    return ReceiptContent(
        shop=shop,
        amount=payment.amount,
        surcharge=payment.surcharge,
        currency=payment.currency,
        paid_at=cs.completed_at or payment.updated_at,
        payment_id=payment.id,
        method=str(payment.method),
        authorized_only=payment.status is PaymentStatus.AUTHORIZED,
        livemode=payment.livemode,
        card_brand=payment.card_brand,
        card_last4=payment.card_last4,
        reference=cs.reference,
        description=cs.description,
        statement_descriptor=payment.statement_descriptor,
        legal_name=profile.get("legal_name"),
        address=profile.get("address"),
        support_email=profile.get("support_email"),
        support_url=profile.get("support_url"),
    )
