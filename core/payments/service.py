"""Confirming, processing, capturing, canceling and refunding payments.

Money-moving rules live here: one session yields at most one successful payment; a declined attempt can
be retried within its session; the processor is called with the payment id as idempotency key, so a
retried or re-run job never charges twice; every state change writes its history row, its event, its
audit entry and (when money moves) its ledger journal in the same transaction.

Kassa books what the processor moved, never what it asked for: the amount in the processor's answer. A
crash between the processor's answer and our commit leaves money moved that Kassa has not recorded; the
retry (same idempotency key) learns what the processor did, from its replayed answer or from the
`IdempotencyKeyReused` refusal of a retry with another amount, books that, and refuses a request whose
amount differs (`ProcessorAmountMismatch`, committed with the booking).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import events, money
from core.audit import actions
from core.audit import service as audit
from core.context import Actor, Context
from core.db import get_by_id
from core.errors import Conflict, InvalidInput, KassaError
from core.events import EventType
from core.geo import is_email
from core.ids import new_id
from core.ledger import service as ledger
from core.locality import service as locality
from core.payments import serialize, sessions
from core.payments.models import (
    ActionType,
    CaptureMethod,
    CheckoutSession,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
    SessionStatus,
)
from core.payments.states import InvalidTransition, record, transition
from core.processors.base import (
    AuthorizationRequest,
    IdempotencyKeyReused,
    Processor,
    ProcessorResult,
    ProcessorStatus,
    ProcessorUnavailable,
)
from core.processors.sandbox import TestCards, is_test_card
from core.risk import service as risk
from core.risk import test_cards
from core.vault import service as vault

#: Seconds before each retry after a transient processor error; then the payment fails.
RETRY_DELAYS: Final = (1, 5, 30, 120, 600)
PROCESS_JOB: Final = "core.payments.jobs.process_payment"
REFUND_REASONS: Final = ("requested_by_customer", "duplicate", "fraudulent")
IN_FLIGHT: Final = frozenset({PaymentStatus.INITIATED, PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION})


class SessionNotOpen(KassaError):
    status = 409
    code = "checkout_session_not_open"


class RefundExceedsPayment(KassaError):
    code = "refund_exceeds_payment"


class PaymentsUnavailable(KassaError):
    status = 503
    type = "api_error"
    code = "payments_unavailable"


class ProcessorDown(KassaError):
    status = 503
    type = "api_error"
    code = "processor_unavailable"


class ProcessorAmountMismatch(Conflict):
    """The processor had already moved another amount under this request's idempotency key (an earlier
    request reached it, then failed before our commit). What it moved is now booked; this request is not
    carried out. The booking is committed with the error: it records money that has already moved."""

    code = "processor_amount_mismatch"
    keeps_effects = True


class ProcessorAmountUnknown(KassaError):
    """The processor replayed an answer that does not say what it moved: nothing is booked."""

    status = 502
    type = "api_error"
    code = "processor_amount_unknown"


@dataclass(frozen=True)
class PaymentInput:
    """What the shopper submitted. `__repr__` never shows the card number or CVC."""

    method: str
    card_number: str | None = None
    exp_month: object = None
    exp_year: object = None
    cvc: str | None = None
    cardholder_name: str | None = None
    customer_email: str | None = None
    #: Billing postal code, where the locality rules ask for it (card AVS).
    postal_code: str | None = None
    client_ip: str | None = None
    #: The shopper's country as the checkout resolved it (the session's, else the tenant's): the
    #: locality rules of this country decide methods, limits, required fields, surcharge and 3DS.
    country: str | None = None
    #: What the shopper's statement will show, as the checkout resolved it from the tenant's settings
    #: (core may not read them itself); kept on the payment and sent to the processor.
    statement_descriptor: str | None = None

    def __repr__(self) -> str:
        return f"PaymentInput(method={self.method!r}, card=<redacted>, client_ip={self.client_ip!r})"


def get(session: Session, *, payment_id: str, lock: bool = False) -> Payment:
    return get_by_id(session, Payment, payment_id, prefix="pay", what="payment", lock=lock)


def _emit(session: Session, ctx: Context, payment: Payment, type_: EventType) -> None:
    events.emit(session, ctx, type_, subject=payment, data=serialize.payment(payment))


def _audit(
    session: Session, ctx: Context, payment: Payment, action: str, *, details: dict[str, Any] | None = None
) -> None:
    audit.record(
        session, ctx, action, subject=payment, details={"status": str(payment.status), **(details or {})}
    )


# --- confirm (checkout surface) -------------------------------------------------------------------------


def confirm(
    session: Session, ctx: Context, *, tenant_id: str, session_id: str, data: PaymentInput
) -> Payment:
    """Validate what the shopper entered, tokenize the card, create the payment and queue its processing.

    Submitting twice (double click, two tabs) returns the payment already in flight instead of a second one.
    Bad input raises InvalidInput and creates nothing.
    """
    cs = sessions.get(session, session_id=session_id, lock=True)
    sessions.refresh_expiry(session, ctx, cs)
    if cs.status is SessionStatus.EXPIRED:
        raise SessionNotOpen("This checkout session has expired. Ask the shop for a new payment link.")
    if cs.status is SessionStatus.COMPLETE:
        raise SessionNotOpen("This checkout session is already paid.")
    if cs.payment_id is not None:
        current = get(session, payment_id=cs.payment_id)
        if current.status in IN_FLIGHT:
            return current
    rules = sessions.rules_of(session, cs, country=data.country, at=ctx.clock.now())
    if data.method not in rules.methods:
        raise InvalidInput("Choose one of the payment methods offered.", param="method")
    problem = rules.refusal(cs.amount)
    if problem is not None:
        raise SessionNotOpen(problem)
    method = PaymentMethod(data.method)
    email = (data.customer_email or cs.customer_email or "").strip().lower() or None
    _check_required(rules, method, email=email, postal_code=data.postal_code)
    surcharge = rules.surcharge_on(cs.amount, str(method))
    now = ctx.clock.now()
    payment = Payment(
        tenant_id=tenant_id,
        id=new_id("pay"),
        checkout_session_id=cs.id,
        status=PaymentStatus.INITIATED,
        amount=cs.amount + surcharge,
        surcharge=surcharge,
        three_ds_required=rules.three_ds_required and method is PaymentMethod.CARD,
        amount_captured=0,
        amount_refunded=0,
        currency=cs.currency,
        method=method,
        capture_method=cs.capture_method,
        processor_attempts=0,
        customer_email=email,
        client_ip=data.client_ip,
        statement_descriptor=data.statement_descriptor,
        livemode=cs.livemode,
        created_at=now,
        updated_at=now,
    )
    cvc = None
    if method is PaymentMethod.CARD:
        card = vault.validate_card(data.card_number or "", data.exp_month, data.exp_year, clock=ctx.clock)
        brand = vault.detect_brand(card.pan)
        cvc = vault.validate_cvc(data.cvc, brand=brand)
        summary = vault.tokenize(session, tenant_id=tenant_id, card=card, kms=ctx.kms, clock=ctx.clock)
        payment.card_token_id = summary.token_id
        payment.card_brand = summary.brand
        payment.card_last4 = summary.last4
        payment.card_exp_month = summary.exp_month
        payment.card_exp_year = summary.exp_year
        payment.card_country = summary.country
        payment.card_bin = card.pan[:6]
        payment.card_fingerprint = summary.fingerprint
    session.add(payment)
    session.flush()
    record(session, payment, PaymentStatus.INITIATED, clock=ctx.clock, reason="confirmed")
    transition(session, payment, PaymentStatus.PENDING, clock=ctx.clock, reason="queued")
    cs.payment_id = payment.id
    if cvc is not None and payment.card_token_id is not None:
        try:
            vault.stash_cvc(
                ctx.redis, tenant_id=tenant_id, token_id=payment.card_token_id, cvc=cvc, kms=ctx.kms
            )
        except RedisError:
            # The CVC may live only in Redis; without it there is nowhere safe to keep it until authorization.
            raise PaymentsUnavailable(
                "Card payments are briefly unavailable. Please try again in a minute; nothing was charged."
            ) from None
    _emit(session, ctx, payment, EventType.PAYMENT_CREATED)
    _audit(session, ctx, payment, actions.PAYMENT_CREATED, details={"method": str(method)})
    ctx.jobs.enqueue(
        PROCESS_JOB, tenant_id=tenant_id, kwargs={"tenant_id": tenant_id, "payment_id": payment.id}
    )
    return payment


def _check_required(
    rules: locality.LocalityRules, method: PaymentMethod, *, email: str | None, postal_code: str | None
) -> None:
    if "email" in rules.required_fields and not email:
        raise InvalidInput("Enter your email address for the receipt.", param="customer_email")
    if email is not None and not is_email(email):
        raise InvalidInput("Enter a valid email address, like name@example.com.", param="customer_email")
    if (
        method is PaymentMethod.CARD
        and "postal_code" in rules.required_fields
        and not (postal_code or "").strip()
    ):
        raise InvalidInput("Enter the postal code of your billing address.", param="postal_code")


def complete_action(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    payment_id: str,
    result: str,
    bank: str | None = None,
) -> Payment:
    """The shopper's answer on a 3DS challenge or approval page: queue the next processor attempt."""
    payment = get(session, payment_id=payment_id, lock=True)
    if payment.status is not PaymentStatus.REQUIRES_ACTION or payment.action_type is None:
        if payment.status in IN_FLIGHT or payment.status is PaymentStatus.SUCCEEDED:
            return payment  # a second click on the same answer
        raise InvalidTransition("This payment is not waiting for you.", param="payment")
    allowed = ("passed", "failed") if payment.action_type is ActionType.THREE_DS else ("approved", "declined")
    if result not in allowed:
        raise InvalidInput(f"result must be one of {', '.join(allowed)}.", param="result")
    payment.action_result = result
    if bank is not None:
        payment.bank = bank[:64]
    transition(
        session, payment, PaymentStatus.PENDING, clock=ctx.clock, reason=f"{payment.action_type}:{result}"
    )
    _emit(session, ctx, payment, EventType.PAYMENT_PROCESSING)
    _audit(session, ctx, payment, actions.PAYMENT_ACTION_COMPLETED, details={"result": result})
    ctx.jobs.enqueue(
        PROCESS_JOB, tenant_id=tenant_id, kwargs={"tenant_id": tenant_id, "payment_id": payment.id}
    )
    return payment


# --- process (payments worker) --------------------------------------------------------------------------


def process(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    payment_id: str,
    processor_for: Callable[[bool], Processor],
) -> Payment:
    """One processing step for a pending payment; a no-op for any other state (jobs may run twice).
    The steps are the worker's, whoever calls."""
    ctx = ctx.acting_as(Actor.system("worker"))
    payment = get(session, payment_id=payment_id, lock=True)
    if payment.status is not PaymentStatus.PENDING:
        return payment
    if payment.next_attempt_at is not None and payment.next_attempt_at > ctx.clock.now():
        return payment  # an early duplicate of a scheduled retry: the scheduled one will run
    processor = processor_for(payment.livemode)
    card = None
    if payment.method is PaymentMethod.CARD and payment.card_token_id is not None:
        card = vault.reveal(session, tenant_id=tenant_id, token_id=payment.card_token_id, kms=ctx.kms)
    # Which documented test card, if any: screening treats them as test mode's own (core/risk/test_cards).
    screened = _risk_input(payment, test_card=test_cards.documented(card.pan) if card else None)
    if payment.risk_decision is None:
        verdict = risk.screen(session, ctx.redis, risk=screened, clock=ctx.clock)
        payment.risk_decision = str(verdict.decision)
        payment.risk_reasons = list(verdict.reasons)
        if verdict.decision is risk.Decision.BLOCK:
            return _fail(
                session, payment, "risk_blocked", "This payment was blocked by risk screening.", ctx=ctx
            )
    cvc = None
    if card is not None and payment.card_token_id is not None:
        cvc = vault.peek_cvc(ctx.redis, tenant_id=tenant_id, token_id=payment.card_token_id, kms=ctx.kms)
    request = AuthorizationRequest(
        idempotency_key=payment.id,
        tenant_id=tenant_id,
        amount=payment.amount,
        currency=payment.currency,
        method=str(payment.method),
        capture=payment.capture_method is CaptureMethod.AUTOMATIC,
        card=card,
        cvc=cvc,
        three_ds=payment.action_result if payment.action_type is ActionType.THREE_DS else None,
        three_ds_required=payment.three_ds_required,
        approval=payment.action_result
        if payment.action_type in (ActionType.WALLET_APPROVAL, ActionType.BANK_APPROVAL)
        else None,
        bank=payment.bank,
        statement_descriptor=payment.statement_descriptor,
    )
    payment.processor = processor.name
    try:
        result = processor.authorize(request)
    except ProcessorUnavailable as exc:
        return _retry_later(session, payment, reason=type(exc).__name__, ctx=ctx)
    _audit(
        session,
        ctx,
        payment,
        actions.PAYMENT_PROCESSOR_CALLED,
        details={"processor": processor.name, "request": result.raw_request, "response": result.raw_response},
    )
    payment.next_attempt_at = None
    if result.reference:
        payment.processor_reference = result.reference
    return _apply(session, payment, result, screened=screened, ctx=ctx)


def _risk_input(payment: Payment, *, test_card: str | None) -> risk.RiskInput:
    return risk.RiskInput(
        tenant_id=payment.tenant_id,
        session_id=payment.checkout_session_id,
        amount=payment.amount,
        currency=payment.currency,
        email=payment.customer_email,
        ip=payment.client_ip,
        fingerprint=payment.card_fingerprint,
        card_country=payment.card_country,
        bin=payment.card_bin,
        # The same attempt re-run after a crash must not count twice towards velocity limits.
        attempt_id=payment.id,
        livemode=payment.livemode,
        test_card=test_card,
    )


def _instant_settlement(payment: Payment) -> bool:
    # The sandbox's payout test card skips the settlement delay (ARCHITECTURE.md).
    return is_test_card(
        livemode=payment.livemode,
        card_bin=payment.card_bin,
        card_last4=payment.card_last4,
        card=TestCards.INSTANT_SETTLEMENT,
    )


def _apply(
    session: Session, payment: Payment, result: ProcessorResult, *, screened: risk.RiskInput, ctx: Context
) -> Payment:
    status = result.status
    if status is ProcessorStatus.CAPTURED:
        payment.amount_captured = _moved(result, requested=payment.amount)
        ledger.record_capture(
            session,
            tenant_id=payment.tenant_id,
            payment_id=payment.id,
            amount=payment.amount_captured,
            currency=payment.currency,
            clock=ctx.clock,
            available_at_once=_instant_settlement(payment),
            livemode=payment.livemode,
        )
        transition(session, payment, PaymentStatus.SUCCEEDED, clock=ctx.clock, reason="captured")
        _finish_card(payment, ctx)
        _emit(session, ctx, payment, EventType.PAYMENT_SUCCEEDED)
        _complete_session(session, payment, ctx=ctx)
    elif status is ProcessorStatus.AUTHORIZED:
        transition(session, payment, PaymentStatus.AUTHORIZED, clock=ctx.clock, reason="authorized")
        _finish_card(payment, ctx)
        _emit(session, ctx, payment, EventType.PAYMENT_AUTHORIZED)
        _complete_session(session, payment, ctx=ctx)
    elif status is ProcessorStatus.DECLINED:
        risk.record_decline(ctx.redis, risk=screened, clock=ctx.clock)
        return _fail(
            session,
            payment,
            result.code or "declined",
            result.message or "The payment was declined.",
            ctx=ctx,
        )
    elif status in (ProcessorStatus.REQUIRES_ACTION, ProcessorStatus.PENDING_APPROVAL):
        payment.action_type = (
            ActionType.THREE_DS
            if status is ProcessorStatus.REQUIRES_ACTION
            else ActionType.WALLET_APPROVAL
            if payment.method is PaymentMethod.WALLET
            else ActionType.BANK_APPROVAL
        )
        payment.action_result = None
        transition(
            session, payment, PaymentStatus.REQUIRES_ACTION, clock=ctx.clock, reason=str(payment.action_type)
        )
        _emit(session, ctx, payment, EventType.PAYMENT_REQUIRES_ACTION)
    else:
        return _fail(session, payment, "processor_error", f"Unexpected processor answer {status}.", ctx=ctx)
    _audit(session, ctx, payment, actions.PAYMENT_STATUS_CHANGED)
    return payment


def _finish_card(payment: Payment, ctx: Context) -> None:
    # The CVC is needed for authorization only: gone as soon as the processor has answered for good.
    if payment.card_token_id is not None:
        vault.discard_cvc(ctx.redis, tenant_id=payment.tenant_id, token_id=payment.card_token_id)


def _fail(session: Session, payment: Payment, code: str, message: str, *, ctx: Context) -> Payment:
    payment.failure_code = code
    payment.failure_message = message
    transition(session, payment, PaymentStatus.FAILED, clock=ctx.clock, reason=code)
    _finish_card(payment, ctx)
    cs = sessions.get(session, session_id=payment.checkout_session_id, lock=True)
    if cs.payment_id == payment.id:
        cs.payment_id = None  # the shopper may try again within the session
    _emit(session, ctx, payment, EventType.PAYMENT_FAILED)
    _audit(
        session,
        ctx,
        payment,
        actions.PAYMENT_STATUS_CHANGED,
        details={"failure_code": code},
    )
    return payment


def _retry_later(session: Session, payment: Payment, *, reason: str, ctx: Context) -> Payment:
    attempt = payment.processor_attempts
    payment.processor_attempts = attempt + 1
    if attempt >= len(RETRY_DELAYS):
        return _fail(
            session,
            payment,
            "processor_unavailable",
            "The payment processor did not answer. Please try again later.",
            ctx=ctx,
        )
    delay = timedelta(seconds=RETRY_DELAYS[attempt])
    payment.next_attempt_at = ctx.clock.now() + delay
    payment.updated_at = ctx.clock.now()
    _audit(
        session,
        ctx,
        payment,
        actions.PAYMENT_PROCESSOR_CALLED,
        details={"error": reason, "retry_in_seconds": delay.total_seconds()},
    )
    ctx.jobs.enqueue(
        PROCESS_JOB,
        tenant_id=payment.tenant_id,
        kwargs={"tenant_id": payment.tenant_id, "payment_id": payment.id},
        delay=delay,
    )
    return payment


def _complete_session(session: Session, payment: Payment, *, ctx: Context) -> None:
    cs: CheckoutSession = sessions.get(session, session_id=payment.checkout_session_id, lock=True)
    if cs.status is SessionStatus.COMPLETE:
        return
    cs.status = SessionStatus.COMPLETE
    cs.payment_id = payment.id
    cs.completed_at = ctx.clock.now()
    events.emit(
        session,
        ctx,
        EventType.CHECKOUT_SESSION_COMPLETED,
        subject=cs,
        data=serialize.checkout_session(cs, base_url=ctx.base_url),
    )
    # Receipts hear of it as a subscriber of checkout.session.completed (core/events/subscribers.py), through
    # this transaction's outbox: a committed completion always reaches them, a rolled-back one never does.
    audit.record(
        session, ctx, actions.CHECKOUT_SESSION_COMPLETED, subject=cs, details={"payment": payment.id}
    )


# --- merchant actions (API / portal) --------------------------------------------------------------------


def capture(
    session: Session, ctx: Context, *, payment_id: str, amount: object, processor: Processor
) -> Payment:
    """Capture an authorized payment, all of it or `amount`; books what the processor says it captured."""
    payment = get(session, payment_id=payment_id, lock=True)
    if payment.status is not PaymentStatus.AUTHORIZED:
        raise InvalidTransition(f"Only an authorized payment can be captured; this one is {payment.status}.")
    to_capture = (
        payment.amount
        if amount is None
        else _amount(amount, maximum=payment.amount, currency=payment.currency)
    )
    result, reused = _ask(
        lambda: processor.capture(
            idempotency_key=f"{payment.id}:capture",
            reference=payment.processor_reference or "",
            amount=to_capture,
            currency=payment.currency,
        )
    )
    if result.status is not ProcessorStatus.CAPTURED:
        if reused:
            raise ProcessorAmountMismatch(
                "An earlier capture request of this payment, for another amount, reached the processor, "
                f"which refused it ({result.message or result.code}). Nothing was captured.",
                param="amount",
            )
        raise KassaError(result.message or "The processor refused the capture.")
    captured = _moved(result, requested=to_capture)
    payment.amount_captured = captured
    ledger.record_capture(
        session,
        tenant_id=payment.tenant_id,
        payment_id=payment.id,
        amount=captured,
        currency=payment.currency,
        clock=ctx.clock,
        available_at_once=_instant_settlement(payment),
        livemode=payment.livemode,
    )
    transition(session, payment, PaymentStatus.SUCCEEDED, clock=ctx.clock, reason="captured")
    _emit(session, ctx, payment, EventType.PAYMENT_SUCCEEDED)
    _audit(
        session,
        ctx,
        payment,
        actions.PAYMENT_CAPTURED,
        details={
            "amount": captured,
            "requested": to_capture,
            "request": result.raw_request,
            "response": result.raw_response,
        },
    )
    if captured != to_capture:
        raise ProcessorAmountMismatch(
            "An earlier capture of this payment reached the processor but was not recorded here: the "
            f"processor captured {money.amount_text(captured, payment.currency)}, not the "
            f"{money.amount_text(to_capture, payment.currency)} asked now. The payment now shows the "
            f"{money.amount_text(captured, payment.currency)} captured; nothing more was captured.",
            param="amount",
        )
    return payment


def _ask(call: Callable[[], ProcessorResult]) -> tuple[ProcessorResult, bool]:
    """The processor's answer, and whether it refused the call as a reuse of its idempotency key with
    another amount (the answer is then the first call's: what the processor did under the key)."""
    try:
        return call(), False
    except ProcessorUnavailable:
        raise ProcessorDown(
            "The payment processor did not answer. Retry the request; it is safe to."
        ) from None
    except IdempotencyKeyReused as refused:
        return refused.original, True


def _moved(result: ProcessorResult, *, requested: int) -> int:
    """What the processor moved: the amount its answer reports. A fresh answer that reports none is taken
    to be for the amount asked; a replayed one may be any earlier request's, so nothing is booked on it."""
    if result.amount is not None:
        return result.amount
    if result.replayed:
        raise ProcessorAmountUnknown(
            "The processor replayed an earlier answer without saying what it moved; nothing was recorded. "
            "Reconcile this payment with the processor's records."
        )
    return requested


def cancel(session: Session, ctx: Context, *, payment_id: str, processor: Processor) -> Payment:
    payment = get(session, payment_id=payment_id, lock=True)
    if payment.status is PaymentStatus.AUTHORIZED:
        try:
            processor.cancel(
                idempotency_key=f"{payment.id}:cancel", reference=payment.processor_reference or ""
            )
        except ProcessorUnavailable:
            raise ProcessorDown(
                "The payment processor did not answer. Retry the request; it is safe to."
            ) from None
    elif payment.status is not PaymentStatus.REQUIRES_ACTION:
        raise InvalidTransition(
            "Only an authorized payment or one waiting for the shopper can be canceled; "
            f"this one is {payment.status}."
        )
    transition(session, payment, PaymentStatus.CANCELED, clock=ctx.clock, reason="canceled")
    _finish_card(payment, ctx)
    cs = sessions.get(session, session_id=payment.checkout_session_id, lock=True)
    if cs.payment_id == payment.id and cs.status is SessionStatus.OPEN:
        cs.payment_id = None  # the session is open again: the shopper may pay another way, or it expires
    _emit(session, ctx, payment, EventType.PAYMENT_CANCELED)
    _audit(session, ctx, payment, actions.PAYMENT_CANCELED)
    return payment


def _amount(value: object, *, maximum: int, currency: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput("amount must be a positive whole number of minor units.", param="amount")
    if value > maximum:
        raise InvalidInput(
            f"amount cannot exceed the {money.amount_text(maximum, currency)} authorized.", param="amount"
        )
    return value


def refund(
    session: Session,
    ctx: Context,
    *,
    payment_id: str,
    amount: object,
    reason: object,
    processor: Processor,
) -> Refund:
    """Refund part or all of a payment. The payment row is locked, so concurrent refunds queue and the
    total can never exceed what was captured. The refund books what the processor says it refunded."""
    if reason is not None and reason not in REFUND_REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(REFUND_REASONS)}.", param="reason")
    payment = get(session, payment_id=payment_id, lock=True)
    if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED):
        raise InvalidTransition(f"Only a succeeded payment can be refunded; this one is {payment.status}.")
    remaining = payment.amount_captured - payment.amount_refunded
    if amount is None:
        to_refund = remaining
    elif not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
        raise InvalidInput("amount must be a positive whole number of minor units.", param="amount")
    else:
        to_refund = amount
    if to_refund > remaining or to_refund < 1:
        raise RefundExceedsPayment(
            f"Refund of {money.amount_text(to_refund, payment.currency)} exceeds the "
            f"{money.amount_text(remaining, payment.currency)} left to refund on this payment.",
            param="amount",
        )
    refund_id = new_id("re")
    # Deterministic under the payment's row lock: if we crash after the processor refunded but before our
    # commit, the retry asks again with the same key and the processor replays instead of paying twice
    # (or, asked for another amount, refuses and tells us what it refunded: that is what we record).
    ordinal = 1 + len(session.scalars(select(Refund.id).where(Refund.payment_id == payment.id)).all())
    result, reused = _ask(
        lambda: processor.refund(
            idempotency_key=f"{payment.id}:refund:{ordinal}",
            reference=payment.processor_reference or "",
            amount=to_refund,
            currency=payment.currency,
        )
    )
    succeeded = result.status is ProcessorStatus.REFUNDED
    if succeeded:
        refunded = _moved(result, requested=to_refund)
    else:
        # Nothing moved; the failed refund is recorded as the request that reached the processor asked.
        asked = result.raw_request.get("amount") if reused else to_refund
        refunded = asked if isinstance(asked, int) else to_refund
    made = Refund(
        tenant_id=payment.tenant_id,
        id=refund_id,
        payment_id=payment.id,
        amount=refunded,
        currency=payment.currency,
        status=RefundStatus.SUCCEEDED if succeeded else RefundStatus.FAILED,
        reason=reason if isinstance(reason, str) else None,
        processor_reference=result.reference,
        created_at=ctx.clock.now(),
    )
    session.add(made)
    session.flush()
    if made.status is RefundStatus.SUCCEEDED:
        payment.amount_refunded += refunded
        full = payment.amount_refunded == payment.amount_captured
        transition(
            session,
            payment,
            PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED,
            clock=ctx.clock,
            reason=f"refund {refund_id}",
        )
        ledger.record_refund(
            session,
            tenant_id=payment.tenant_id,
            refund_id=refund_id,
            amount=refunded,
            currency=payment.currency,
            clock=ctx.clock,
            livemode=payment.livemode,
        )
        _emit(session, ctx, payment, EventType.PAYMENT_REFUNDED)
    data = serialize.refund(made)
    events.emit(session, ctx, EventType.REFUND_CREATED, subject=made, data=data, livemode=payment.livemode)
    outcome = EventType.REFUND_SUCCEEDED if succeeded else EventType.REFUND_FAILED
    events.emit(session, ctx, outcome, subject=made, data=data, livemode=payment.livemode)
    audit.record(
        session,
        ctx,
        actions.REFUND_CREATED,
        subject=made,
        details={
            "payment": payment.id,
            "amount": refunded,
            "requested": to_refund,
            "status": str(made.status),
            "request": result.raw_request,
            "response": result.raw_response,
        },
    )
    if reused and not succeeded:
        raise ProcessorAmountMismatch(
            "An earlier refund request of this payment, for "
            f"{money.amount_text(refunded, payment.currency)}, reached the processor, which declined it "
            f"({result.message or result.code}); it is now recorded as the failed refund {made.id}. "
            "Nothing was refunded for this request: send it again to refund.",
            param="amount",
        )
    if refunded != to_refund:
        raise ProcessorAmountMismatch(
            "An earlier refund of this payment reached the processor but was not recorded here: the "
            f"processor refunded {money.amount_text(refunded, payment.currency)}, not the "
            f"{money.amount_text(to_refund, payment.currency)} asked now. That refund "
            f"is now recorded as {made.id}; nothing more was refunded. To refund more, send a new request.",
            param="amount",
        )
    return made


def get_refund(session: Session, *, refund_id: str) -> Refund:
    return get_by_id(session, Refund, refund_id, prefix="re", what="refund")
