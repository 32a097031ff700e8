"""The processor interface: what the payments worker asks an acquirer, and the one result type it gets back.

A processor is an *external* system: whatever it did, it remembers, even when the caller's transaction
rolls back or the caller dies. That is why every money-moving call carries an idempotency key, which the
processor (not Kassa's database) uses to answer a repeated call with the first call's result instead of a
second charge, refund or payout.

A key names one request, parameters included: a processor never answers a call whose amount (or currency,
charge, destination) differs from the first call's under the same key with that first answer, as if it
were this call's. It raises `IdempotencyKeyReused`, carrying the first answer, and moves nothing. (After a
crash between the processor's answer and Kassa's commit, a retry with another amount would otherwise make
Kassa book the new amount while the processor moved the first.) Every answer that moved money reports the
amount it moved (`ProcessorResult.amount`), and Kassa books that amount, never the one it asked for.

Nothing here may carry a card number or CVC into a result: `raw_request` and `raw_response` go to the
(encrypted) audit trail, and the audit trail holds last4 and brand only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

from core.errors import KassaError


class ProcessorStatus(StrEnum):
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    DECLINED = "declined"
    #: The shopper must complete a 3-D Secure challenge; call `authorize` again with `three_ds`.
    REQUIRES_ACTION = "requires_action"
    #: The shopper must approve in their wallet or bank; call `authorize` again with `approval`.
    PENDING_APPROVAL = "pending_approval"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    PAID_OUT = "paid_out"

    @property
    def is_final(self) -> bool:
        """A final answer is remembered under its idempotency key and replayed; the others are not."""
        return self not in (ProcessorStatus.REQUIRES_ACTION, ProcessorStatus.PENDING_APPROVAL)


@dataclass(frozen=True)
class ProcessorResult:
    """A processor's answer, normalized. `code`/`message` explain a decline in stable/plain words."""

    status: ProcessorStatus
    #: The processor's id of the charge (authorize, capture, cancel) or of the refund/payout it created.
    reference: str | None
    code: str | None = None
    message: str | None = None
    #: What the operation moved, in minor units, as the processor reports it: the amount authorized or
    #: captured (authorize, capture), refunded (refund) or paid out (payout). None when it moved nothing.
    amount: int | None = None
    #: What was sent and received, for the audit trail: never a PAN or CVC (last4 and brand only).
    raw_request: dict[str, Any] = field(default_factory=dict)
    raw_response: dict[str, Any] = field(default_factory=dict)

    @property
    def replayed(self) -> bool:
        """True when the processor answered from its idempotency memory (no new money movement)."""
        return bool(self.raw_response.get("idempotent_replayed"))


class IdempotencyKeyReused(Exception):
    """The processor has already answered this idempotency key for a request with other parameters (another
    amount, currency, charge or destination). It refused this call and moved nothing for it; `original` is
    its first answer under the key, the one that did (or did not) move money, marked as replayed.

    A real acquirer's adapter builds `original` from the acquirer's records of the key (or the charge)."""

    def __init__(self, message: str, *, original: ProcessorResult) -> None:
        super().__init__(message)
        self.original = original


class ProcessorUnavailable(Exception):
    """A transient fault (network, timeout, 5xx): nothing happened, or the same key may safely be retried."""


class ProcessorTimeout(ProcessorUnavailable):
    """The processor did not answer in time."""


class LiveModeUnavailable(KassaError):
    code = "livemode_unavailable"

    DEFAULT_MESSAGE: Final = (
        "Live payments are not available yet: this deployment has no live processor. "
        "Use your test keys (sk_test_…) with the sandbox processor meanwhile."
    )

    def __init__(self, message: str = DEFAULT_MESSAGE, *, param: str | None = None) -> None:
        super().__init__(message, param=param)


class CardLike(Protocol):
    """The card fields a processor needs (core.vault's `CardDetails` has them). Read-only on purpose."""

    @property
    def pan(self) -> str: ...

    @property
    def exp_month(self) -> int: ...

    @property
    def exp_year(self) -> int: ...


def last4(pan: str) -> str:
    digits = "".join(c for c in pan if c.isdigit())
    return digits[-4:]


def card_brand(pan: str) -> str:
    """The scheme from the leading digits; enough for the audit trail (the vault does the real job)."""
    digits = "".join(c for c in pan if c.isdigit())
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"51", "52", "53", "54", "55"} or (
        digits[:4].isdigit() and 2221 <= int(digits[:4]) <= 2720
    ):
        return "mastercard"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if digits.startswith(("6011", "65")):
        return "discover"
    return "unknown"


@dataclass(frozen=True, repr=False)
class AuthorizationRequest:
    """One authorization. `method` is "card", "wallet" or "bank"; `card`/`cvc` only for cards.

    `three_ds_required` asks for a 3-D Secure challenge even where the issuer would let the card through
    frictionless. `three_ds` ("passed"/"failed") and `approval` ("approved"/"declined") carry the
    shopper's answer to a REQUIRES_ACTION / PENDING_APPROVAL result; repeat the call with the same
    idempotency key.
    """

    idempotency_key: str
    tenant_id: str
    amount: int
    currency: str
    method: str
    capture: bool
    card: CardLike | None = None
    cvc: str | None = None
    three_ds: str | None = None
    #: Ask the issuer to challenge the shopper whatever the card (locality rules), not only when it wants to.
    three_ds_required: bool = False
    approval: str | None = None
    bank: str | None = None
    #: What the shopper's statement shows (core/descriptors.py); None: the acquirer's default.
    statement_descriptor: str | None = None

    def card_summary(self) -> dict[str, Any] | None:
        """What may be shown or stored about the card: brand, last4, expiry."""
        if self.card is None:
            return None
        return {
            "brand": card_brand(self.card.pan),
            "last4": last4(self.card.pan),
            "exp_month": self.card.exp_month,
            "exp_year": self.card.exp_year,
        }

    def __repr__(self) -> str:
        # Written by hand: the generated repr would print the PAN and CVC into any log or traceback.
        card = self.card_summary()
        shown = f"{card['brand']} ****{card['last4']}" if card else None
        return (
            f"AuthorizationRequest(idempotency_key={self.idempotency_key!r}, tenant_id={self.tenant_id!r}, "
            f"amount={self.amount!r}, currency={self.currency!r}, method={self.method!r}, "
            f"capture={self.capture!r}, card={shown!r}, cvc={'***' if self.cvc else None!r}, "
            f"three_ds={self.three_ds!r}, approval={self.approval!r}, bank={self.bank!r}, "
            f"statement_descriptor={self.statement_descriptor!r})"
        )

    __str__ = __repr__


class Processor(Protocol):
    """An acquirer. Every call with an idempotency key it has answered finally is answered the same way, if
    its parameters are the first call's; with other parameters it raises `IdempotencyKeyReused`."""

    name: str

    def authorize(self, request: AuthorizationRequest) -> ProcessorResult: ...

    def capture(
        self, *, idempotency_key: str, reference: str, amount: int, currency: str
    ) -> ProcessorResult: ...

    def cancel(self, *, idempotency_key: str, reference: str) -> ProcessorResult: ...

    def refund(
        self, *, idempotency_key: str, reference: str, amount: int, currency: str
    ) -> ProcessorResult: ...

    def payout(
        self, *, idempotency_key: str, amount: int, currency: str, destination: str
    ) -> ProcessorResult: ...
