"""No message shows an amount as a bare count of minor units ("exceeds the 700 EUR left" for 7.00 EUR).

Three sweeps: the translation catalogues; the English messages in the source (every f-string an error or a
log line is raised with, where an amount-like value is interpolated as it stands); and the errors
themselves, triggered through the API and core, which must show "7.00 EUR"-style amounts.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from babel.numbers import list_currencies
from flask.testing import FlaskClient

from core import money
from core.errors import InvalidInput
from core.jobs.runtime import Runtime
from core.payments.models import Payment
from tests.fixtures import Factories
from tests.payments_helpers import auth, confirm, create_session, work_until_settled

ROOT = Path(__file__).resolve().parent.parent
CURRENCY = r"(?:[A-Z]{3}\b|€|\$|£|¥)"
#: An integer of 2+ digits glued to a currency (code or sign), on either side, with no decimal part:
#: "700 EUR", "EUR 700", "€700". "1,050 JPY" and "7.00 EUR" are fine: they come from the formatter.
RAW_AMOUNT = re.compile(
    rf"(?<![\d.,])\d{{2,}}(?![\d.,])\s?{CURRENCY}|{CURRENCY}\s?(?<![\d.,])\d{{2,}}(?![\d.,])"
)
#: The names an amount of minor units goes by in the source.
AMOUNT_NAME = re.compile(
    r"(^|_)(amount|amounts|remaining|pending|refunded|captured|to_refund|to_capture|maximum|minimum|"
    r"surcharge|balance|net|fee|total)$|^MAX_AMOUNT$",
    re.IGNORECASE,
)
SOURCES = ["core", "tenants", "checkout", "portal", "cli", "wsgi.py", "demo.py"]
#: Interpolations that are not amounts of money, though named like one.
NOT_MONEY = {"cli/keys.py: left.total"}  # a count of keys still sealed under an old master key
LOG_CALLS = {"debug", "info", "warning", "error", "exception", "critical", "echo", "secho", "fail", "_fail"}


def shows_raw_amount(text: str) -> bool:
    for match in RAW_AMOUNT.finditer(text):
        unit = match.group(0).strip("0123456789 ")
        if not unit.isalpha():
            return True  # a currency sign
        if unit in list_currencies() and money.exponent(unit) > 0:
            return True  # "1050 JPY" is JPY's own unit; "700 EUR" is not 700 euros
    return False


def test_the_detector_knows_raw_from_formatted() -> None:
    assert shows_raw_amount("exceeds the 700 EUR left")
    assert shows_raw_amount("only €700 is pending")
    assert not shows_raw_amount("exceeds the 7.00 EUR left")
    assert not shows_raw_amount("at least €10.00 from shoppers")
    assert not shows_raw_amount("e.g. 1050 for 10.50 EUR")
    assert not shows_raw_amount("1,050 JPY")


# --- the catalogues -------------------------------------------------------------------------------------


def catalogues() -> Iterator[Path]:
    yield ROOT / "translations" / "messages.pot"
    yield from sorted((ROOT / "translations").glob("*/LC_MESSAGES/messages.po"))


@pytest.mark.parametrize("path", list(catalogues()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_catalogue_message_shows_minor_units(path: Path) -> None:
    with path.open("rb") as po_file:
        catalog = read_po(po_file)
    texts = []
    for message in catalog:
        texts += [message.id] if isinstance(message.id, str) else list(message.id)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        texts += [s for s in strings if s]
    assert not [t for t in texts if shows_raw_amount(t)]


# --- the English source ---------------------------------------------------------------------------------


def _python_files() -> Iterator[Path]:
    for name in SOURCES:
        path = ROOT / name
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _message_fstrings(tree: ast.AST) -> Iterator[ast.JoinedStr]:
    """f-strings raised as errors, or passed to a log call or a CLI echo."""
    for node in ast.walk(tree):
        calls: list[ast.Call] = []
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            calls.append(node.exc)
        elif isinstance(node, ast.Call) and _name_of(node.func) in LOG_CALLS:
            calls.append(node)
        for call in calls:
            for arg in [*call.args, *(k.value for k in call.keywords)]:
                yield from (n for n in ast.walk(arg) if isinstance(n, ast.JoinedStr))


def raw_interpolations() -> list[str]:
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for fstring in _message_fstrings(tree):
            for value in fstring.values:
                if not isinstance(value, ast.FormattedValue):
                    continue
                name = _name_of(value.value)  # a call (amount_text(...), format_amount(...)) has none
                if value.conversion == ord("r"):
                    continue  # the repr of a value of the wrong type, for the developer who passed it
                if f"{path.relative_to(ROOT)}: {ast.unparse(value.value)}" in NOT_MONEY:
                    continue
                if name and AMOUNT_NAME.search(name):
                    found.append(f"{path.relative_to(ROOT)}:{value.lineno}: {{{ast.unparse(value.value)}}}")
    return found


def test_no_source_message_interpolates_an_amount_unformatted() -> None:
    assert not raw_interpolations(), (
        "format these with core.money.amount_text (English messages) or format_amount (per locale):\n"
        + "\n".join(raw_interpolations())
    )


# --- the errors, triggered ------------------------------------------------------------------------------


def assert_money_message(message: str, *shown: str) -> None:
    assert not shows_raw_amount(message), message
    for text in shown:
        assert text in message, f"{text!r} is not in {message!r}"


def paid(
    client: FlaskClient, clean: Runtime, make: Factories, **fields: object
) -> tuple[str, dict[str, str]]:
    tenant = make.tenants()
    cs = create_session(client, tenant, amount=700, **fields)
    payment_id = confirm(clean, tenant, cs["id"])
    settled: Payment = work_until_settled(clean, tenant, payment_id)
    assert str(settled.status) in ("succeeded", "authorized")
    return payment_id, auth(tenant.keys.secret_key)


def test_a_refund_beyond_what_is_left_names_both_amounts_in_money(
    client: FlaskClient, clean: Runtime, make: Factories
) -> None:
    payment_id, headers = paid(client, clean, make)
    response = client.post("/api/v1/refunds", json={"payment": payment_id, "amount": 800}, headers=headers)
    assert response.status_code in (400, 409, 422), response.json
    assert_money_message(response.json["error"]["message"], "8.00 EUR", "7.00 EUR")


def test_a_capture_beyond_the_authorized_amount_names_it_in_money(
    client: FlaskClient, clean: Runtime, make: Factories
) -> None:
    payment_id, headers = paid(client, clean, make, capture="manual")
    response = client.post(f"/api/v1/payments/{payment_id}/capture", json={"amount": 800}, headers=headers)
    assert response.status_code == 400, response.json
    assert_money_message(response.json["error"]["message"], "7.00 EUR")


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ({"amount": 0, "currency": "EUR"}, "at least 0.01 EUR"),
        ({"amount": 0, "currency": "JPY"}, "at least 1 JPY"),
        ({"amount": 0, "currency": "KWD"}, "at least 0.001 KWD"),
        ({"amount": 10**12, "currency": "EUR"}, "at most 9,999,999,999.99 EUR"),
    ],
)
def test_session_amount_limits_are_named_in_the_sessions_currency(
    client: FlaskClient, make: Factories, body: dict[str, object], shown: str
) -> None:
    tenant = make.tenants()
    response = client.post("/api/v1/checkout/sessions", json=body, headers=auth(tenant.keys.secret_key))
    assert response.status_code == 400, response.json
    assert_money_message(response.json["error"]["message"], shown)


@pytest.mark.parametrize("amount", [0, 10**12])
def test_payment_link_amount_limits_are_named_in_money(
    client: FlaskClient, make: Factories, amount: int
) -> None:
    tenant = make.tenants()
    response = client.post(
        "/api/v1/payment_links",
        json={"amount": amount, "currency": "EUR", "description": "Mug"},
        headers=auth(tenant.keys.secret_key),
    )
    assert response.status_code == 400, response.json
    bound = "at least 0.01 EUR" if amount == 0 else "at most 9,999,999,999.99 EUR"
    assert_money_message(response.json["error"]["message"], bound)


def test_locality_limits_refuse_a_session_in_money(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants(country="DE")
    headers = auth(tenant.keys.secret_key)
    rule = {"country": "DE", "amount_limits": [{"currency": "EUR", "min": 1000}]}
    assert client.post("/api/v1/locality_rules", json=rule, headers=headers).status_code == 201
    response = client.post(
        "/api/v1/checkout/sessions", json={"amount": 700, "currency": "EUR", "country": "DE"}, headers=headers
    )
    assert response.status_code == 400, response.json
    assert_money_message(response.json["error"]["message"], "€10.00")


@pytest.mark.parametrize(
    ("amount", "currency", "minimum", "shown"),
    [
        (0, "EUR", 1, "at least 0.01 EUR"),
        (-1, "EUR", 0, "at least 0.00 EUR"),
        (money.MAX_AMOUNT + 1, "JPY", 1, "at most 999,999,999,999 JPY"),
    ],
)
def test_core_amount_validation_speaks_money(amount: int, currency: str, minimum: int, shown: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        money.validate_amount(amount, currency, minimum=minimum)
    assert_money_message(caught.value.message, shown)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (700, "EUR", "7.00 EUR"),
        (1050, "JPY", "1,050 JPY"),
        (1050, "KWD", "1.050 KWD"),
        (5, "USD", "0.05 USD"),
    ],
)
def test_amount_text_formats_from_minor_units_with_the_currencys_exponent(
    amount: int, currency: str, text: str
) -> None:
    assert money.amount_text(amount, currency) == text
