"""The payments list as CSV rows: the columns and one row per payment (amounts as decimals of the
currency, moments in ISO 8601 UTC). Never a card number: the last four digits and the brand only."""

from __future__ import annotations

from datetime import UTC
from typing import Final

from core import money
from core.payments.models import Payment

PAYMENT_COLUMNS: Final = (
    "id",
    "created_at",
    "status",
    "amount",
    "amount_refunded",
    "currency",
    "method",
    "card_brand",
    "card_last4",
    "customer_email",
    "risk_decision",
    "checkout_session",
    "livemode",
)


def payment_row(p: Payment) -> tuple[str, ...]:
    created = p.created_at if p.created_at.tzinfo else p.created_at.replace(tzinfo=UTC)
    return (
        p.id,
        created.isoformat(),
        str(p.status),
        str(money.to_decimal(p.amount, p.currency)),
        str(money.to_decimal(p.amount_refunded, p.currency)),
        p.currency,
        str(p.method),
        p.card_brand or "",
        p.card_last4 or "",
        p.customer_email or "",
        p.risk_decision or "",
        p.checkout_session_id,
        "true" if p.livemode else "false",
    )
