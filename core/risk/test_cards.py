"""The documented sandbox test cards (docs/api.md, "Sandbox test cards") as risk screening sees them.

Test mode is for developers: a test-mode payment made with one of these cards is never counted or
blocked by the velocity and card-testing counters, so an integration can be exercised from one machine as
often as needed. Three of them trigger a risk outcome instead, as Stripe's Radar test cards do: always
blocked, elevated risk (review), and velocity (blocked as if the card had been tried too often). Amount
limits and the tenant's block lists still apply to them: those are rules the merchant set on purpose.
Live mode ignores all of this: there, a number is a card like any other.
"""

from __future__ import annotations

from typing import Final

from core.processors.sandbox import TestCards

ALWAYS_BLOCKED: Final = TestCards.RISK_ALWAYS_BLOCKED
ELEVATED_RISK: Final = TestCards.RISK_ELEVATED
VELOCITY: Final = TestCards.RISK_VELOCITY

#: Every card number of the documented table (the settlement and dispute cards among them).
DOCUMENTED: Final = frozenset(
    value for name, value in vars(TestCards).items() if name.isupper() and isinstance(value, str)
)


def documented(pan: str) -> str | None:
    """The test card `pan` is (spaces and dashes ignored), or None for any other number."""
    digits = "".join(c for c in pan if c.isdigit())
    return digits if digits in DOCUMENTED else None


def developer_payment(*, livemode: bool, card_number: str | None) -> bool:
    """A test-mode payment with a documented test card: no per-IP attempt limit or velocity rule holds
    it back (the hosted page's confirm limiter asks this before the card is even validated)."""
    return not livemode and card_number is not None and documented(card_number) is not None
