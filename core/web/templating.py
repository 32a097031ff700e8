"""The Jinja filters every page formats with, registered once (create_app calls `init_app`).

- `amount|money(currency)`: minor units as display text, "€25.00", in German "25,00 €" (core/money.py).
- `when|datetime(format="long")` / `when|date(format="medium")`: a moment with its zone, "1. Dezember 2026,
  06:59:03 UTC" (a Babel width or a CLDR pattern such as "yyyy-MM-dd HH:mm"); a naive value is UTC, as the
  database stores it. Without `zone`, the page's zone: the signed-in portal user's time zone (the
  account page's setting, put in `g.time_zone` when the user is loaded), UTC elsewhere.
- `status|status_label`: a payment, refund or session status in words, "partially refunded".

All of them speak the page's language (core/web/i18n.page_locale): the shopper's on the checkout, English
in the portal, which is not translated. Views pass the values, not pre-formatted text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import date as date_type
from typing import Final

from babel.dates import format_date, format_datetime, get_timezone
from flask import Flask, g, has_app_context
from flask_babel import force_locale, gettext

from core import money
from core.web.i18n import page_locale


def N_(text: str) -> str:
    return text


#: Payment, refund and session statuses in words (the enum values of core/payments/models.py).
STATUS_LABELS: Final[dict[str, str]] = {
    "initiated": N_("initiated"),
    "pending": N_("pending"),
    "requires_action": N_("requires action"),
    "authorized": N_("authorized"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "canceled": N_("canceled"),
    "partially_refunded": N_("partially refunded"),
    "refunded": N_("refunded"),
    "open": N_("open"),
    "complete": N_("complete"),
    "expired": N_("expired"),
}


def money_filter(amount: int, currency: str) -> str:
    return money.format_amount(amount, currency, page_locale())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def page_zone() -> str:
    """The zone this page shows moments in: `g.time_zone` when a surface set one, else UTC."""
    return str(g.get("time_zone") or "UTC") if has_app_context() else "UTC"


def datetime_filter(value: datetime, format: str = "long", zone: str | None = None) -> str:
    tzinfo = get_timezone(zone or page_zone())
    return str(format_datetime(_aware(value), format, tzinfo=tzinfo, locale=page_locale()))


def date_filter(value: datetime | date_type, format: str = "medium", zone: str | None = None) -> str:
    if isinstance(value, datetime):
        value = _aware(value).astimezone(get_timezone(zone or page_zone())).date()
    return str(format_date(value, format, locale=page_locale()))


def status_label(status: str) -> str:
    """The status in the page's words; a status without a label stands as it is, underscores as spaces."""
    text = STATUS_LABELS.get(str(status))
    if text is None:
        return str(status).replace("_", " ")
    locale = page_locale()
    if locale == "en":
        return text
    with force_locale(locale):
        return str(gettext(text))


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        money=money_filter, datetime=datetime_filter, date=date_filter, status_label=status_label
    )
