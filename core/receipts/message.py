"""The receipt email: plain text and HTML alternatives, written in the receipt's language.

Workers have no Flask app, so this renders with Jinja and Babel directly, over the same catalogs the
checkout uses (translations/, compiled by `make translations`) and with the same `_()` in templates.
Card data stops at brand and last four digits: the PAN never leaves the vault, here or anywhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime as header_date
from pathlib import Path
from typing import Any, Final

from babel.dates import format_datetime
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core import money
from core.geo import CHECKOUT_LOCALES

ROOT: Final = Path(__file__).resolve().parents[2]
TEMPLATES: Final = ROOT / "templates" / "mail"
TRANSLATIONS: Final = ROOT / "translations"


def N_(text: str) -> str:
    """Marks text for extraction (a default Babel keyword); it is translated where it is shown."""
    return text


METHOD_NAMES: Final = {"card": N_("Card"), "wallet": N_("Wallet"), "bank": N_("Online banking")}


@dataclass(frozen=True)
class ReceiptContent:
    """What a receipt says: nothing here can identify a card beyond its brand and last four digits."""

    shop: str
    amount: int
    currency: str
    paid_at: datetime
    payment_id: str
    method: str
    #: Authorized (manual capture) rather than captured: the email must not claim the money moved.
    authorized_only: bool
    livemode: bool
    card_brand: str | None = None
    card_last4: str | None = None
    #: The card surcharge included in `amount` (locality rules), shown as its own line.
    surcharge: int = 0
    reference: str | None = None
    description: str | None = None
    #: What the shopper's statement shows for this payment (as sent to the processor), or None.
    statement_descriptor: str | None = None
    #: The merchant's business profile (all optional): who the shopper bought from and how to reach them.
    legal_name: str | None = None
    #: Postal address, lines separated by newlines.
    address: str | None = None
    support_email: str | None = None
    support_url: str | None = None

    @property
    def address_lines(self) -> list[str]:
        return [line for line in (self.address or "").split("\n") if line.strip()]


@functools.cache
def _catalog(locale: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [locale])


@functools.cache
def _environment(locale: str) -> Environment:
    """One Jinja environment per language (installing translations changes an environment's globals)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.install_gettext_translations(_catalog(locale), newstyle=True)  # type: ignore[attr-defined]
    return environment


def _one_line(text: str) -> str:
    # Merchant-entered text goes into a header: no line break may start a header of its own.
    return " ".join(text.split())


def compose(
    content: ReceiptContent, *, to: str, sender: str, message_id: str, locale: str, now: datetime
) -> EmailMessage:
    language = locale if locale in CHECKOUT_LOCALES else "en"
    _ = _catalog(language).gettext
    values: dict[str, Any] = {
        "language": language,
        "shop": _one_line(content.shop),
        "content": content,
        "amount_text": money.format_amount(content.amount, content.currency, language),
        "surcharge_text": money.format_amount(content.surcharge, content.currency, language)
        if content.surcharge
        else None,
        "date_text": format_datetime(content.paid_at, "long", tzinfo=UTC, locale=language),
        "method_text": _(METHOD_NAMES.get(content.method, content.method)),
        "card_text": f"{content.card_brand.title()} ···· {content.card_last4}"
        if content.card_brand and content.card_last4
        else None,
    }
    subject = _("Your receipt from %(shop)s") % {"shop": values["shop"]}
    if not content.livemode:
        subject = f"[{_('Test mode')}] {subject}"
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = header_date(now)
    message["Message-ID"] = message_id
    environment = _environment(language)
    message.set_content(environment.get_template("receipt.txt").render(values))
    message.add_alternative(environment.get_template("receipt.html").render(values), subtype="html")
    # After the parts: setting content clears every Content-* header.
    message["Content-Language"] = language
    return message
