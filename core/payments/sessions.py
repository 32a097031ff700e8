"""Checkout sessions: what the merchant asks the shopper to pay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from core import events, money
from core.audit import actions
from core.audit import service as audit
from core.context import Actor, Context
from core.db import get_by_id
from core.errors import Conflict, InvalidInput
from core.events import EventType
from core.geo import is_email, validate_country, validate_locale
from core.ids import new_id
from core.locality import service as locality
from core.payments import serialize
from core.payments.models import CaptureMethod, CheckoutSession, PaymentMethod, SessionStatus

DEFAULT_LIFETIME = timedelta(hours=24)
MIN_LIFETIME = timedelta(minutes=30)
MAX_LIFETIME = timedelta(days=7)
FIELDS = frozenset(
    {
        "amount",
        "currency",
        "reference",
        "description",
        "customer_email",
        "locale",
        "country",
        "success_url",
        "cancel_url",
        "payment_methods",
        "capture",
        "metadata",
        "expires_at",
    }
)


@dataclass(frozen=True)
class SessionTerms:
    """What the caller knows about the tenant: core does not read tenant settings itself."""

    tenant_id: str
    livemode: bool
    #: Methods the tenant offers (its checkout settings); a session may narrow them.
    allowed_methods: Sequence[str]
    #: The tenant's country: the shopper's when the session names none (locality rules).
    country: str | None = None


def _optional_str(data: dict[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"{key} must be a string of at most {limit} characters.", param=key)
    return value.strip() or None


def _url(data: dict[str, Any], key: str, *, livemode: bool) -> str | None:
    value = _optional_str(data, key, 2048)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InvalidInput(f"{key} must be an absolute http(s) URL.", param=key)
    if livemode and parts.scheme != "https":
        raise InvalidInput(f"{key} must use https in live mode.", param=key)
    return value


def _metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 50:
        raise InvalidInput("metadata must be an object of at most 50 keys.", param="metadata")
    for key, item in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= 40:
            raise InvalidInput("metadata keys must be strings of 1-40 characters.", param="metadata")
        if not isinstance(item, str) or len(item) > 500:
            raise InvalidInput(
                f"metadata[{key!r}] must be a string of at most 500 characters.", param="metadata"
            )
    return dict(value)


def _methods(value: object, allowed: Sequence[str]) -> list[str]:
    if value is None:
        return [m for m in PaymentMethod if m in allowed]
    if not isinstance(value, list) or not value or any(not isinstance(m, str) for m in value):
        raise InvalidInput(
            "payment_methods must be a non-empty list of card, wallet, bank.", param="payment_methods"
        )
    unknown = [m for m in value if m not in set(PaymentMethod)]
    if unknown:
        raise InvalidInput(
            f"Unknown payment method {unknown[0]!r}; use card, wallet or bank.", param="payment_methods"
        )
    disabled = [m for m in value if m not in allowed]
    if disabled:
        raise InvalidInput(
            f"Payment method {disabled[0]!r} is turned off in your checkout settings.",
            param="payment_methods",
        )
    return [m for m in PaymentMethod if m in value]


def _expiry(value: object, *, now: datetime) -> datetime:
    if value is None:
        return now + DEFAULT_LIFETIME
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput("expires_at must be a Unix timestamp (seconds).", param="expires_at")
    try:
        at = datetime.fromtimestamp(value, tz=now.tzinfo)
    except (OverflowError, OSError, ValueError):
        raise InvalidInput("expires_at is out of range.", param="expires_at") from None
    if not now + MIN_LIFETIME <= at <= now + MAX_LIFETIME:
        raise InvalidInput("expires_at must be between 30 minutes and 7 days from now.", param="expires_at")
    return at


def create(session: Session, ctx: Context, *, terms: SessionTerms, data: dict[str, Any]) -> CheckoutSession:
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown field {unknown[0]!r}.", param=unknown[0])
    if "amount" not in data:
        raise InvalidInput("amount is required (minor units, e.g. 1050 for 10.50).", param="amount")
    if "currency" not in data:
        raise InvalidInput("currency is required (ISO 4217, e.g. EUR).", param="currency")
    currency = money.validate_currency(data["currency"])
    amount = money.validate_amount(data["amount"], currency)
    email = _optional_str(data, "customer_email", 320)
    if email is not None and not is_email(email):
        raise InvalidInput("customer_email is not an email address.", param="customer_email")
    locale = data.get("locale")
    capture = data.get("capture", "automatic")
    if capture not in ("automatic", "manual"):
        raise InvalidInput("capture must be automatic or manual.", param="capture")
    now = ctx.clock.now()
    cs = CheckoutSession(
        tenant_id=terms.tenant_id,
        id=new_id("cs"),
        status=SessionStatus.OPEN,
        amount=amount,
        currency=currency,
        reference=_optional_str(data, "reference", 200),
        description=_optional_str(data, "description", 500),
        customer_email=email.lower() if email else None,
        locale=None if locale in (None, "auto") else validate_locale(locale),
        country=None if data.get("country") is None else validate_country(data["country"]),
        success_url=_url(data, "success_url", livemode=terms.livemode),
        cancel_url=_url(data, "cancel_url", livemode=terms.livemode),
        payment_methods=_methods(data.get("payment_methods"), terms.allowed_methods),
        capture_method=CaptureMethod(capture),
        metadata_=_metadata(data.get("metadata")),
        expires_at=_expiry(data.get("expires_at"), now=now),
        created_at=now,
        completed_at=None,
        livemode=terms.livemode,
        payment_id=None,
    )
    _check_locality(session, cs, country=terms.country, at=now)
    session.add(cs)
    session.flush()
    data_out = serialize.checkout_session(cs, base_url=ctx.base_url)
    events.emit(session, ctx, EventType.CHECKOUT_SESSION_CREATED, subject=cs, data=data_out)
    audit.record(
        session,
        ctx,
        actions.CHECKOUT_SESSION_CREATED,
        subject=cs,
        details={"amount": amount, "currency": currency},
    )
    return cs


def rules_of(
    session: Session, cs: CheckoutSession, *, country: str | None, at: datetime
) -> locality.LocalityRules:
    """The locality rules for this session's shopper, in the session's mode, as in force at `at` (the
    request's clock): the session's own country, else `country` as the caller resolved it (the
    tenant's). One of the two is required: the payment service enforces them. Methods whose method
    limits exclude the session's amount are left out."""
    resolved = cs.country or country
    if resolved is None:
        raise ValueError("the shopper's country is unknown: pass the tenant's country")
    return locality.rules_for(
        session,
        livemode=cs.livemode,
        country=resolved,
        currency=cs.currency,
        methods=list(cs.payment_methods),
        at=at,
        amount=cs.amount,
    )


def _check_locality(session: Session, cs: CheckoutSession, *, country: str | None, at: datetime) -> None:
    """Refuse, at once, a session its shopper could not pay under the tenant's locality rules."""
    if cs.country is None and country is None:
        return
    rules = rules_of(session, cs, country=country, at=at)
    problem = rules.problem(cs.amount)
    if problem is not None:
        param = "payment_methods" if problem == "no_method" else "amount"
        raise InvalidInput(rules.refusal(cs.amount) or problem, param=param)


def get(session: Session, *, session_id: str, lock: bool = False) -> CheckoutSession:
    """A session of the current tenant; another tenant's id is simply not found."""
    return get_by_id(session, CheckoutSession, session_id, prefix="cs", what="checkout session", lock=lock)


def refresh_expiry(session: Session, ctx: Context, cs: CheckoutSession) -> CheckoutSession:
    """Mark an open session past its expiry as expired (lazily, and by the sweeper), with its event and
    an audit row by the system actor "expiry"."""
    if cs.status is SessionStatus.OPEN and cs.expires_at <= ctx.clock.now() and cs.payment_id is None:
        cs.status = SessionStatus.EXPIRED
        _expired(session, ctx.acting_as(Actor.system("expiry")), cs)
    return cs


def expire(session: Session, ctx: Context, *, session_id: str) -> CheckoutSession:
    cs = get(session, session_id=session_id, lock=True)
    if cs.status is SessionStatus.COMPLETE:
        raise Conflict("This checkout session is complete and cannot be expired.", param="id")
    if cs.payment_id is not None and cs.status is SessionStatus.OPEN:
        raise Conflict("A payment is in progress for this session; wait for it to finish.", param="id")
    if cs.status is SessionStatus.OPEN:
        cs.status = SessionStatus.EXPIRED
        cs.expires_at = ctx.clock.now()
        _expired(session, ctx, cs)
    return cs


def _expired(session: Session, ctx: Context, cs: CheckoutSession) -> None:
    data = serialize.checkout_session(cs, base_url=ctx.base_url)
    events.emit(session, ctx, EventType.CHECKOUT_SESSION_EXPIRED, subject=cs, data=data)
    audit.record(
        session,
        ctx,
        actions.CHECKOUT_SESSION_EXPIRED,
        subject=cs,
        details={"expires_at": cs.expires_at.isoformat()},
    )
