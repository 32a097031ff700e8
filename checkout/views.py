"""Hosted checkout views."""

from __future__ import annotations

from core.errors import NotFound


def pay(session_id: str) -> str:
    # Checkout sessions arrive with the payment engine; until then every link is unknown, and an unknown
    # link gets the same answer as another tenant's: not found.
    raise NotFound("This payment link is not valid or has expired. Ask the shop for a new one.")
