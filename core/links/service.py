"""Payment links: create, read, change, find by slug, and open a fresh checkout session per visit."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from typing import Any

from babel.numbers import NumberFormatError, parse_decimal
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core import events, money
from core.audit import actions
from core.audit import service as audit
from core.context import Context
from core.db import get_by_id
from core.errors import InvalidInput, NotFound
from core.events import EventType
from core.ids import new_id
from core.links.models import PaymentLink
from core.payments import sessions
from core.payments.models import CheckoutSession

FIELDS = frozenset({"amount", "currency", "description", "active"})
UPDATABLE = frozenset({"description", "active"})
#: What a slug looks like in a URL: new_slug() gives 22 of these characters (128 bits); links made before
#: it gave 16 (96 bits) still open.
_SLUG = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
#: What a shopper may type as an amount: digits, separators and spaces (no sign, no exponent).
_AMOUNT_TEXT = re.compile(r"^[0-9][0-9.,'\s\u00a0\u202f]{0,30}$")
#: Metadata key on the checkout sessions a link opens, so the merchant can tell where they came from.
METADATA_KEY = "payment_link"


def new_slug() -> str:
    # The slug alone opens the link (`/l/<slug>`), so it carries 128 bits from the OS random source like
    # every other id that grants access (ARCHITECTURE.md); the unique index would refuse a collision.
    return secrets.token_urlsafe(16)


def url_of(link: PaymentLink, *, base_url: str) -> str:
    return f"{base_url}/l/{link.slug}"


def serialize(link: PaymentLink, *, base_url: str) -> dict[str, Any]:
    return {
        "id": link.id,
        "object": "payment_link",
        "url": url_of(link, base_url=base_url),
        "amount": link.amount,
        "currency": link.currency,
        "description": link.description,
        "active": link.active,
        "created_at": int(link.created_at.timestamp()),
        "livemode": link.livemode,
    }


def _description(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 500:
        raise InvalidInput("description must be a string of at most 500 characters.", param="description")
    return value.strip() or None


def _active(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("active must be true or false.", param="active")
    return value


def _emit(session: Session, ctx: Context, link: PaymentLink, type_: EventType) -> None:
    events.emit(session, ctx, type_, subject=link, data=serialize(link, base_url=ctx.base_url))


def create(
    session: Session, ctx: Context, *, tenant_id: str, livemode: bool, data: dict[str, Any]
) -> PaymentLink:
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown field {unknown[0]!r}.", param=unknown[0])
    if "currency" not in data:
        raise InvalidInput("currency is required (ISO 4217, e.g. EUR).", param="currency")
    currency = money.validate_currency(data["currency"])
    amount = data.get("amount")
    if amount is not None:
        amount = money.validate_amount(amount, currency)
    now = ctx.clock.now()
    link = PaymentLink(
        tenant_id=tenant_id,
        id=new_id("plink"),
        slug=new_slug(),
        amount=amount,
        currency=currency,
        description=_description(data.get("description")),
        active=_active(data.get("active", True)),
        livemode=livemode,
        created_at=now,
        updated_at=now,
    )
    session.add(link)
    session.flush()
    _emit(session, ctx, link, EventType.PAYMENT_LINK_CREATED)
    audit.record(
        session,
        ctx,
        actions.PAYMENT_LINK_CREATED,
        subject=link,
        details={"amount": amount, "currency": currency},
    )
    return link


def get(session: Session, *, link_id: str, lock: bool = False) -> PaymentLink:
    """A link of the current tenant; another tenant's id is simply not found."""
    return get_by_id(session, PaymentLink, link_id, prefix="plink", what="payment link", lock=lock)


def update(session: Session, ctx: Context, *, link_id: str, changes: dict[str, Any]) -> PaymentLink:
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise InvalidInput(
            f"Unknown field {unknown[0]!r}; a payment link's {', '.join(sorted(UPDATABLE))} can be changed "
            "(make a new link for another amount or currency).",
            param=unknown[0],
        )
    link = get(session, link_id=link_id, lock=True)
    if "description" in changes:
        link.description = _description(changes["description"])
    if "active" in changes:
        link.active = _active(changes["active"])
    link.updated_at = ctx.clock.now()
    session.flush()
    _emit(session, ctx, link, EventType.PAYMENT_LINK_UPDATED)
    audit.record(
        session, ctx, actions.PAYMENT_LINK_UPDATED, subject=link, details={"changed": sorted(changes)}
    )
    return link


def tenant_of_slug(session: Session, slug: str) -> str | None:
    """The tenant whose payment link this slug is (a shopper's only key), or None.

    On PostgreSQL the application role sees no row before it knows the tenant, so the question goes
    through a SECURITY DEFINER function that answers only it (migration 0007); on SQLite the tenant
    scoping is lifted for this one query.
    """
    if not _SLUG.match(slug):
        return None
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(text("SELECT kassa_payment_link_tenant(:s)"), {"s": slug}).scalar()
        return str(value) if value else None
    return session.scalar(
        select(PaymentLink.tenant_id).where(PaymentLink.slug == slug).execution_options(kassa_unscoped=True)
    )


def active_by_slug(session: Session, slug: str) -> PaymentLink:
    """The current tenant's active link with this slug; an inactive or unknown one is not found."""
    link = session.scalar(select(PaymentLink).where(PaymentLink.slug == slug)) if _SLUG.match(slug) else None
    if link is None or not link.active:
        raise NotFound("This payment link is not active.", param="slug")
    return link


def parse_amount(value: str, currency: str, *, locale: str) -> int:
    """What a shopper typed ("12,50" in German, "12.50" in English) as minor units of `currency`.

    The locale's own number format is tried first, then the English one; more decimals than the
    currency has, zero, or anything but digits and separators is refused, never rounded.
    """
    cleaned = value.strip()
    if not _AMOUNT_TEXT.match(cleaned):
        raise InvalidInput("Enter the amount as a number, like 12.50.", param="amount")
    cleaned = re.sub(r"[\s\u00a0\u202f']", "", cleaned)
    parsed: Decimal | None = None
    for candidate in dict.fromkeys((locale, "en")):
        try:
            parsed = parse_decimal(cleaned, locale=candidate, strict=True)
            break
        except (NumberFormatError, ValueError):
            continue
    if parsed is None:
        raise InvalidInput("Enter the amount as a number, like 12.50.", param="amount")
    minor = money.from_decimal(parsed, currency)
    return money.validate_amount(minor, currency)


def open_session(
    session: Session, ctx: Context, *, link: PaymentLink, terms: sessions.SessionTerms, amount: int | None
) -> CheckoutSession:
    """A fresh checkout session for one visit of the link (the link's amount, else the shopper's)."""
    if not link.active:
        raise NotFound("This payment link is not active.", param="slug")
    chosen = link.amount if link.amount is not None else amount
    if chosen is None:
        raise InvalidInput("amount is required: this link lets the shopper choose it.", param="amount")
    data: dict[str, Any] = {
        "amount": chosen,
        "currency": link.currency,
        "metadata": {METADATA_KEY: link.id},
    }
    if link.description:
        data["description"] = link.description
    return sessions.create(session, ctx, terms=terms, data=data)
