"""The payment state machine of the design, stored as an append-only history.

initiated -> pending -> succeeded -> (partially_refunded | refunded)
                   \\-> requires_action -> pending ...
                   \\-> failed
         (manual capture)  pending -> authorized -> succeeded | canceled
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import KassaError
from core.ids import new_id
from core.payments.models import Payment, PaymentStatus, PaymentStatusChange

S = PaymentStatus

TRANSITIONS: Final[dict[PaymentStatus, frozenset[PaymentStatus]]] = {
    S.INITIATED: frozenset({S.PENDING, S.FAILED}),
    S.PENDING: frozenset({S.REQUIRES_ACTION, S.AUTHORIZED, S.SUCCEEDED, S.FAILED, S.CANCELED}),
    S.REQUIRES_ACTION: frozenset({S.PENDING, S.FAILED, S.CANCELED}),
    S.AUTHORIZED: frozenset({S.SUCCEEDED, S.CANCELED}),
    S.SUCCEEDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.REFUNDED: frozenset(),
}
#: No further processor work will happen for a payment in one of these states.
FINAL: Final = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.AUTHORIZED})


class InvalidTransition(KassaError):
    status = 400
    code = "payment_invalid_state"


def transition(
    session: Session, payment: Payment, to: PaymentStatus, *, clock: Clock, reason: str | None = None
) -> None:
    if to not in TRANSITIONS[payment.status]:
        raise InvalidTransition(
            f"Payment {payment.id} is {payment.status}; it cannot become {to}.", param="status"
        )
    record(session, payment, to, clock=clock, reason=reason)


def record(
    session: Session, payment: Payment, status: PaymentStatus, *, clock: Clock, reason: str | None
) -> None:
    now = clock.now()
    payment.status = status
    payment.updated_at = now
    session.add(
        PaymentStatusChange(
            tenant_id=payment.tenant_id,
            id=new_id("psh"),
            payment_id=payment.id,
            status=status,
            reason=reason,
            created_at=now,
        )
    )
