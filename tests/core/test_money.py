from __future__ import annotations

import time
from decimal import Decimal

import babel.localedata
import babel.numbers
import pytest
from babel.numbers import list_currencies
from hypothesis import given, settings
from hypothesis import strategies as st

from core import money
from core.errors import InvalidInput
from core.money import (
    MAX_AMOUNT,
    exponent,
    format_amount,
    from_decimal,
    to_decimal,
    validate_amount,
    validate_currency,
)

CURRENCIES = ("EUR", "USD", "JPY", "KWD")


def _plain(text: str) -> str:
    """CLDR separates with no-break spaces (U+00A0, U+202F); compare them as plain spaces."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


@pytest.mark.parametrize(("currency", "digits"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3), ("CLP", 0)])
def test_exponents_come_from_cldr(currency: str, digits: int) -> None:
    assert exponent(currency) == digits


def test_an_unknown_currency_has_no_exponent() -> None:
    # Babel itself would answer 2 for any code: money.exponent must not.
    with pytest.raises(InvalidInput) as caught:
        exponent("ABC")
    assert caught.value.param == "currency"


def test_currency_codes_are_upper_cased() -> None:
    assert validate_currency("eur") == "EUR"
    assert validate_currency("Jpy") == "JPY"


@pytest.mark.parametrize(
    "junk", ["", "EU", "EURO", "ABC", "XXX", "XTS", "DEM", "€", 978, None, 9.78, b"EUR", ["EUR"]]
)
def test_junk_currencies_are_refused_with_the_param(junk: object) -> None:
    with pytest.raises(InvalidInput, match=r"is not an ISO 4217 currency code.*e\.g\. EUR") as caught:
        validate_currency(junk)
    assert caught.value.param == "currency"
    with pytest.raises(InvalidInput) as caught:
        validate_currency(junk, param="settlement_currency")
    assert caught.value.param == "settlement_currency"


@pytest.mark.parametrize("amount", [1, 1050, MAX_AMOUNT])
def test_valid_amounts_pass_through(amount: int) -> None:
    assert validate_amount(amount, "EUR") == amount


def test_a_lower_minimum_admits_zero() -> None:
    assert validate_amount(0, "EUR", minimum=0) == 0
    with pytest.raises(InvalidInput, match=r"at least 0\.00 EUR"):
        validate_amount(-1, "EUR", minimum=0)


@pytest.mark.parametrize(
    "junk", [0, -1, MAX_AMOUNT + 1, 10.5, 10.0, "1050", True, False, None, Decimal("10.50"), [1050]]
)
def test_bad_amounts_are_refused_in_minor_units_terms(junk: object) -> None:
    with pytest.raises(
        InvalidInput, match=r"in the currency's minor unit, e\.g\. 1050 for 10\.50 EUR"
    ) as caught:
        validate_amount(junk, "EUR", param="unit_amount")
    assert caught.value.param == "unit_amount"


def test_the_example_is_in_the_currency_at_hand() -> None:
    with pytest.raises(InvalidInput, match=r"e\.g\. 1050 for 1,050 JPY"):
        validate_amount(10.5, "JPY")
    with pytest.raises(InvalidInput, match=r"e\.g\. 1050 for 1\.050 KWD"):
        validate_amount("1.050", "KWD")


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "€10.50"), ("de", "10,50 €"), ("fr", "10,50 €"), ("nl", "€ 10,50"), ("es", "10,50 €")],
)
def test_euros_are_formatted_per_locale(locale: str, expected: str) -> None:
    assert _plain(format_amount(1050, "EUR", locale)) == expected


def test_format_amount_defaults_to_english_and_keeps_the_no_break_space() -> None:
    assert format_amount(123456789, "USD") == "$1,234,567.89"
    assert format_amount(1050, "EUR", "de") == "10,50\xa0€"


@pytest.mark.parametrize(
    ("currency", "locale", "expected"),
    [
        ("JPY", "en", "¥1,050"),
        ("JPY", "de", "1.050 ¥"),
        ("JPY", "fr", "1 050 JPY"),
        ("KWD", "en", "KWD1.050"),
        ("KWD", "nl", "KWD 1,050"),
        ("KWD", "es", "1,050 KWD"),
    ],
)
def test_minor_units_follow_the_currency_exponent(currency: str, locale: str, expected: str) -> None:
    assert _plain(format_amount(1050, currency, locale)) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "value"),
    [
        (1050, "EUR", "10.50"),
        (1050, "JPY", "1050"),
        (1050, "KWD", "1.050"),
        (-5, "EUR", "-0.05"),
        (MAX_AMOUNT, "EUR", "9999999999.99"),
    ],
)
def test_to_decimal_is_exact(amount: int, currency: str, value: str) -> None:
    assert to_decimal(amount, currency) == Decimal(value)
    assert str(to_decimal(amount, currency)) == value


def test_to_decimal_takes_no_floats() -> None:
    with pytest.raises(TypeError):
        to_decimal(10.5, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [("10.50", "EUR", 1050), ("10.5", "EUR", 1050), ("10.500", "EUR", 1050), ("1E+3", "JPY", 1000)],
)
def test_from_decimal_accepts_every_spelling_of_a_representable_amount(
    value: str, currency: str, amount: int
) -> None:
    assert from_decimal(Decimal(value), currency) == amount


@pytest.mark.parametrize(
    ("value", "currency"),
    [("10.505", "EUR"), ("1.5", "JPY"), ("0.0001", "KWD"), ("NaN", "EUR"), ("Infinity", "EUR")],
)
def test_from_decimal_never_rounds(value: str, currency: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        from_decimal(Decimal(value), currency, param="price")
    assert caught.value.param == "price"


def test_from_decimal_refuses_huge_values_without_building_them() -> None:
    started = time.monotonic()
    for value in ("1E+999999999", "10000000000.00", "-1E+20"):
        with pytest.raises(InvalidInput, match="maximum"):
            from_decimal(Decimal(value), "EUR")
    assert time.monotonic() - started < 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CURRENCIES), st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT))
def test_decimal_round_trips_are_exact(currency: str, amount: int) -> None:
    value = to_decimal(amount, currency)
    assert from_decimal(value, currency) == amount
    assert value.as_tuple().exponent == -exponent(currency)


_LOCALES = sorted(babel.localedata.locale_identifiers())


@settings(max_examples=400, deadline=None)
@given(
    amount=st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT),
    currency=st.sampled_from(sorted(list_currencies())),
    locale=st.sampled_from(_LOCALES),
)
def test_format_amount_says_exactly_what_babel_says(amount: int, currency: str, locale: str) -> None:
    """The cached shape is only a shortcut: every locale and currency CLDR has, every amount, Babel's text."""
    expected = str(babel.numbers.format_currency(to_decimal(amount, currency), currency, locale=locale))
    assert format_amount(amount, currency, locale) == expected


def test_format_amount_keeps_babel_for_shapes_it_cannot_draw() -> None:
    # Indian grouping (12,34,567) is not the thousands grouping the shortcut draws: Babel formats it.
    assert format_amount(123456789, "INR", "hi") == "₹12,34,567.89"
    assert money._shape("INR", "hi") is None
    assert money._shape("EUR", "de") is not None
