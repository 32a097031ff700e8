"""Objects as the API (and events, and webhooks) show them: one shape, one place."""

from __future__ import annotations

from typing import Any

from core.events.models import Event
from core.payments.models import CheckoutSession, Payment, Refund


def _ts(value: Any) -> int | None:
    return int(value.timestamp()) if value is not None else None


def checkout_session(cs: CheckoutSession, *, base_url: str) -> dict[str, Any]:
    return {
        "id": cs.id,
        "object": "checkout.session",
        "url": f"{base_url}/pay/{cs.id}",
        "status": str(cs.status),
        "amount": cs.amount,
        "currency": cs.currency,
        "reference": cs.reference,
        "description": cs.description,
        "customer_email": cs.customer_email,
        "locale": cs.locale,
        "country": cs.country,
        "success_url": cs.success_url,
        "cancel_url": cs.cancel_url,
        "payment_methods": list(cs.payment_methods),
        "capture": str(cs.capture_method),
        "payment": cs.payment_id,
        "metadata": dict(cs.metadata_ or {}),
        "expires_at": _ts(cs.expires_at),
        "created_at": _ts(cs.created_at),
        "livemode": cs.livemode,
    }


def payment(p: Payment) -> dict[str, Any]:
    card = None
    if p.card_last4 is not None:
        card = {
            "brand": p.card_brand,
            "last4": p.card_last4,
            "exp_month": p.card_exp_month,
            "exp_year": p.card_exp_year,
            "country": p.card_country,
        }
    return {
        "id": p.id,
        "object": "payment",
        "status": str(p.status),
        "amount": p.amount,
        "amount_captured": p.amount_captured,
        "amount_refunded": p.amount_refunded,
        "surcharge": p.surcharge,
        "currency": p.currency,
        "method": str(p.method),
        "card": card,
        "failure_code": p.failure_code,
        "failure_message": p.failure_message,
        "checkout_session": p.checkout_session_id,
        "capture": str(p.capture_method),
        "next_action": str(p.action_type) if p.action_type and str(p.status) == "requires_action" else None,
        "risk": {"decision": p.risk_decision, "reasons": list(p.risk_reasons or [])}
        if p.risk_decision
        else None,
        "statement_descriptor": p.statement_descriptor,
        "created_at": _ts(p.created_at),
        "livemode": p.livemode,
    }


def refund(r: Refund) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "refund",
        "payment": r.payment_id,
        "amount": r.amount,
        "currency": r.currency,
        "status": str(r.status),
        "reason": r.reason,
        "created_at": _ts(r.created_at),
    }


def event(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "object": "event",
        "type": e.type,
        "created_at": _ts(e.created_at),
        "sequence": e.sequence,
        "data": e.data,
    }
