"""The checkout speaks English, German, French, Spanish and Dutch, with no string left untranslated.

The catalogs are checked against what the code says today: messages are extracted from the sources with
the project's babel.cfg (as `make translations-update` does), and every one must have a reviewed
translation in every locale. New text on a checkout page fails here until it is translated.
"""

from __future__ import annotations

import ast
import functools
import html
import inspect
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from flask_babel.speaklater import LazyString
from jinja2 import Environment

from checkout.forms import AnswerForm, BankForm, CardForm, CheckoutForm, ReceiptEmailForm, WalletForm
from core.clock import FrozenClock
from core.errors import InvalidInput
from core.geo import CHECKOUT_LOCALES
from core.payments import service
from core.receipts import service as receipts
from core.vault import cards
from core.vault.models import CardBrand
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import create_session

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
TRANSLATED = [code for code in CHECKOUT_LOCALES if code != "en"]
#: The lazy gettext aliases, besides Babel's defaults (`_`, `gettext`, ...). babel.cfg names them too, but
#: Babel before 2.18 ignores keywords there; `make translations-update` passes them with -k likewise.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
#: printf-style placeholders as gettext's python-format knows them: %(name)s, %s, %d, %%.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")
LETTER = re.compile(r"[^\W\d_]")

MessageKey = tuple[str, str | None]  # (msgid, msgctxt)


def _outside_dependencies(dirpath: str) -> bool:
    name = os.path.basename(dirpath)
    return not name.startswith((".", "_")) and name != "node_modules"


@functools.cache
def extracted() -> dict[MessageKey, list[str]]:
    """Every message of the checkout sources (per babel.cfg), with where it is used."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[MessageKey, list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=_outside_dependencies
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return found


@functools.cache
def catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as po_file:
        return read_po(po_file, locale=locale)


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


# --- the catalogs ---------------------------------------------------------------------------------------


def test_the_sources_have_messages_to_translate() -> None:
    messages = {msgid for msgid, _ in extracted()}
    assert {"Card number", "Pay %(amount)s", "Payment successful", "Enter the card number."} <= messages
    assert len(messages) > 50


def test_the_template_holds_exactly_the_messages_of_the_sources() -> None:
    template = {(m.id, m.context) for m in catalog(TRANSLATIONS / "messages.pot") if m.id}
    new = sorted(msgid for msgid, _ in set(extracted()) - template)
    gone = sorted(msgid for msgid, _ in template - set(extracted()))
    assert not new and not gone, (
        "translations/messages.pot is out of date: run `make translations-update`, then translate. "
        f"New: {new}; gone: {gone}"
    )


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_has_a_reviewed_translation(locale: str) -> None:
    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    assert path.exists(), (
        f"{path} is missing: `pybabel init -i translations/messages.pot -d translations -l {locale}`"
    )
    translations = catalog(path, locale)
    assert not translations.fuzzy, f"{path}: the catalog header is marked fuzzy, so it would not be compiled"
    problems = []
    for (msgid, context), where in sorted(extracted().items()):
        message = translations.get(msgid, context=context)
        strings = (
            [] if message is None else list(message.string) if message.pluralizable else [message.string]
        )
        if message is None:
            problems.append(f"missing: {msgid!r} ({where[0]})")
        elif message.fuzzy:
            problems.append(f"fuzzy (needs review): {msgid!r}")
        elif not all(s.strip() for s in strings):
            problems.append(f"untranslated: {msgid!r}")
        else:
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            for text in strings:
                if placeholders(text) != placeholders(ids[0]):
                    problems.append(f"placeholders differ: {msgid!r} -> {text!r}")
                elif text.count("%") != "".join(PLACEHOLDER.findall(text)).count("%"):
                    problems.append(f"stray % (write %% for a percent sign): {msgid!r} -> {text!r}")
    assert not problems, f"{path} ({len(problems)}):\n" + "\n".join(problems)


# --- core errors the shopper reads ----------------------------------------------------------------------

#: Functions whose errors the checkout shows to a shopper (through `gettext(exc.message)`).
SHOPPER_FACING: dict[ModuleType, tuple[str, ...]] = {
    cards: ("validate_card", "_month", "_year", "validate_cvc"),
    service: ("confirm", "complete_action"),
    receipts: ("request",),
}
CLOCK = FrozenClock(datetime(2030, 6, 15, tzinfo=UTC))
GOOD_CARD = "4242 4242 4242 4242"
#: Messages built at run time (f-strings), which reading the source cannot see.
RAISED: dict[str, Callable[[], object]] = {
    "card number missing": lambda: cards.validate_card("", 12, 2034, clock=CLOCK),
    "card number wrong": lambda: cards.validate_card("4242 4242 4242 4241", 12, 2034, clock=CLOCK),
    "year past": lambda: cards.validate_card(GOOD_CARD, 12, 2029, clock=CLOCK),
    "month past": lambda: cards.validate_card(GOOD_CARD, 5, 2030, clock=CLOCK),
    "year too far": lambda: cards.validate_card(GOOD_CARD, 12, 2051, clock=CLOCK),
    "month not a month": lambda: cards.validate_card(GOOD_CARD, 13, 2034, clock=CLOCK),
    "year of three digits": lambda: cards.validate_card(GOOD_CARD, 12, "203", clock=CLOCK),
    "cvc short": lambda: cards.validate_cvc("12", brand=CardBrand.VISA),
    "amex cvc short": lambda: cards.validate_cvc("123", brand=CardBrand.AMEX),
}


def _literal_raises(module: ModuleType, functions: tuple[str, ...]) -> Iterator[str]:
    """The message of every `raise SomeError("literal" or CONSTANT, ...)` in the named functions."""
    for node in ast.parse(inspect.getsource(module)).body:
        if not (isinstance(node, ast.FunctionDef) and node.name in functions):
            continue
        for raised in ast.walk(node):
            if not (isinstance(raised, ast.Raise) and isinstance(raised.exc, ast.Call) and raised.exc.args):
                continue
            first = raised.exc.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value
            elif isinstance(first, ast.Name) and isinstance(getattr(module, first.id, None), str):
                yield getattr(module, first.id)


@pytest.mark.parametrize("module", SHOPPER_FACING, ids=lambda module: module.__name__)
def test_core_errors_in_the_source_are_listed_for_translation(module: ModuleType) -> None:
    messages = list(_literal_raises(module, SHOPPER_FACING[module]))
    assert messages
    unlisted = [m for m in messages if (m, None) not in extracted()]
    assert not unlisted, f"list these in checkout/messages.py so they are translated: {unlisted}"


@pytest.mark.parametrize("case", RAISED)
def test_core_errors_built_at_run_time_are_listed_for_translation(case: str) -> None:
    with pytest.raises(InvalidInput) as info:
        RAISED[case]()
    assert (info.value.message, None) in extracted(), (
        f"list {info.value.message!r} in checkout/messages.py so it is translated"
    )


# --- no text that bypasses gettext ----------------------------------------------------------------------

#: Attributes whose values people read or hear (screen readers) as text.
VISIBLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "aria-description", "aria-placeholder"}


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        values = dict(attrs)
        self.texts += [value for name, value in attrs if name in VISIBLE_ATTRIBUTES and value]
        if tag == "input" and values.get("type") in ("submit", "button", "reset") and values.get("value"):
            self.texts.append(str(values["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.texts.append(data)


def literal_text(source: str) -> list[str]:
    """Text a template writes out as it stands: its HTML with every Jinja tag, variable or comment blanked."""
    markup: list[str] = []
    for _lineno, token, value in Environment(autoescape=True).lex(source):
        if token == "data":
            markup.append(value)
        elif not markup or markup[-1] != "\0":
            markup.append("\0")
    parser = _VisibleText()
    parser.feed("".join(markup))
    parser.close()
    return [text.replace("\0", " ").strip() for text in parser.texts if LETTER.search(text.replace("\0", ""))]


def test_the_literal_text_finder_finds_text() -> None:
    source = '<p title="Hello">{{ _("Pay") }} Card <b>{{ x }}</b> · {# note #}</p><style>a { b: c }</style>'
    assert literal_text(source) == ["Hello", "Card"]


@pytest.mark.parametrize(
    "template", sorted((ROOT / "templates" / "checkout").rglob("*.html")), ids=lambda path: path.name
)
def test_checkout_templates_write_no_text_outside_gettext(template: Path) -> None:
    untranslated = literal_text(template.read_text())
    assert not untranslated, f"wrap in {{{{ _('…') }}}}: {untranslated}"


@pytest.mark.parametrize("form_class", [CardForm, WalletForm, BankForm, AnswerForm, ReceiptEmailForm])
def test_form_labels_hints_placeholders_and_messages_go_through_gettext(
    app: Flask, form_class: type[CheckoutForm]
) -> None:
    with app.test_request_context():
        form = form_class(session_id="cs_translations")
        texts = []
        for field in form:
            if field.type in ("HiddenField", "CSRFTokenField"):
                continue
            texts += [field.label.text, field.description, (field.render_kw or {}).get("placeholder")]
            texts += [getattr(validator, "message", None) for validator in field.validators]
    plain = [t for t in texts if t and not isinstance(t, LazyString) and LETTER.search(str(t))]
    assert not plain, f"wrap in lazy_gettext (_l): {plain}"


# --- the page in each language --------------------------------------------------------------------------

EURO_25 = {
    "en": "€25.00",
    "de": "25,00\u00a0€",
    "fr": "25,00\u00a0€",
    "es": "25,00\u00a0€",
    "nl": "€\u00a025,00",
}
#: Card number, expiry date, security code, cardholder name, and the Pay button for 25.00 EUR.
CARD_FORM = {
    "en": ("Card number", "Expiry date", "Security code", "Cardholder name", "Pay €25.00"),
    "de": (
        "Kartennummer",
        "Ablaufdatum",
        "Sicherheitscode",
        "Name des Karteninhabers",
        "25,00\u00a0€ bezahlen",
    ),
    "fr": (
        "Numéro de carte",
        "Date d'expiration",
        "Code de sécurité",
        "Titulaire de la carte",
        "Payer 25,00\u00a0€",
    ),
    "es": (
        "Número de tarjeta",
        "Fecha de caducidad",
        "Código de seguridad",
        "Nombre del titular",
        "Pagar 25,00\u00a0€",
    ),
    "nl": ("Kaartnummer", "Vervaldatum", "Beveiligingscode", "Naam kaarthouder", "€\u00a025,00 betalen"),
}


def open_page(
    client: FlaskClient, tenant: MadeTenant, *, locale: str | None = None, accept_language: str | None = None
) -> str:
    cs = create_session(client, tenant, **({"locale": locale} if locale else {}))
    headers = {"Accept-Language": accept_language} if accept_language else {}
    response = client.get(f"/pay/{cs['id']}", headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def shown_amount(page: str) -> str:
    match = re.search(r'id="amount">([^<]*)<', page)
    assert match is not None
    return html.unescape(match.group(1))


def assert_speaks(page: str, locale: str) -> None:
    text = html.unescape(page)
    assert f'<html lang="{locale}">' in page
    assert shown_amount(page) == EURO_25[locale]
    for label in CARD_FORM[locale]:
        assert label in text, f"{label!r} is not on the {locale} page"
    if locale != "en":
        assert not [label for label in CARD_FORM["en"] if label in text]


def test_a_german_session_renders_german_labels_and_a_german_amount(
    client: FlaskClient, make: Factories
) -> None:
    page = open_page(client, make.tenants(), locale="de")
    assert_speaks(page, "de")
    assert shown_amount(page) == "25,00\u00a0€"  # a no-break space before the euro sign, as CLDR has it
    assert "Sichere Zahlung über Kassa" in page


@pytest.mark.parametrize("locale", CHECKOUT_LOCALES)
def test_the_session_locale_chooses_the_language(client: FlaskClient, make: Factories, locale: str) -> None:
    assert_speaks(open_page(client, make.tenants(), locale=locale), locale)


def test_without_a_session_locale_accept_language_chooses(client: FlaskClient, make: Factories) -> None:
    page = open_page(client, make.tenants(), accept_language="fr-FR,fr;q=0.9")
    assert_speaks(page, "fr")


def test_the_session_locale_wins_over_accept_language(client: FlaskClient, make: Factories) -> None:
    page = open_page(client, make.tenants(), locale="nl", accept_language="fr-FR,fr;q=0.9")
    assert_speaks(page, "nl")


@pytest.mark.parametrize("accept_language", ["ja-JP,ja;q=0.9", "pt-BR,pt;q=0.8", None])
def test_other_languages_fall_back_to_english(
    client: FlaskClient, make: Factories, accept_language: str | None
) -> None:
    assert_speaks(open_page(client, make.tenants(), accept_language=accept_language), "en")


def _csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ({"number": "", "expiry": "", "cvc": "", "name": ""}, ["Geben Sie die Kartennummer ein."]),
        ({"expiry": "13/2034"}, ["Der Ablaufmonat muss eine Zahl von 1 bis 12 sein."]),
        ({"cvc": "12"}, ["Der Sicherheitscode hat 3 oder 4 Ziffern."]),
        # Raised in core (core/vault/cards.py), shown through gettext(exc.message):
        ({"number": "4242 4242 4242 4241"}, ["Die Kartennummer ist ungültig. Bitte prüfen Sie die Ziffern."]),
        ({"expiry": "01 / 20"}, ["Das Ablaufdatum liegt in der Vergangenheit."]),
        # WTForms' own messages come from its catalogs, in the same locale:
        ({"name": "A" * 101}, ["Feld kann nicht länger als 100 Zeichen sein."]),
    ],
    ids=["empty", "month", "cvc", "luhn", "expired", "too long"],
)
def test_errors_are_shown_in_the_sessions_language(
    client: FlaskClient, make: Factories, card: dict[str, str], expected: list[str]
) -> None:
    cs = create_session(client, make.tenants(), locale="de")
    form = client.get(f"/pay/{cs['id']}").get_data(as_text=True)
    fields = {"number": GOOD_CARD, "expiry": "12 / 34", "cvc": "123", "name": "Ada Lovelace", **card}
    response = client.post(
        f"/pay/{cs['id']}", data={"csrf_token": _csrf_token(form), "method": "card", **fields}
    )
    assert response.status_code == 200
    text = html.unescape(response.get_data(as_text=True))
    for message in expected:
        assert message in text
