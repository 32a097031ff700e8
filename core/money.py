"""Currencies and amounts: integers in the currency's minor unit, exponents from CLDR (Babel).

An amount is never a float: `1050` with `"EUR"` is 10.50 EUR, with `"JPY"` 1,050 JPY and with `"KWD"`
1.050 KWD. Which currencies exist and how many decimals each has come from the CLDR data that ships with
Babel, not from a list kept here, so an ISO 4217 change arrives with a Babel upgrade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Final

from babel.core import get_global
from babel.numbers import format_currency, get_currency_precision, get_territory_currencies, list_currencies

from core.errors import InvalidInput

#: The largest amount Kassa accepts, in minor units (9,999,999,999.99 EUR): far above any real payment,
#: far below where a BIGINT sum of many of them could overflow.
MAX_AMOUNT: Final = 10**12 - 1
_EXAMPLE_AMOUNT: Final = 1050


@lru_cache(maxsize=1)
def _cldr_currencies() -> frozenset[str]:
    """Every code CLDR knows, historic ones included (DEM, HRK): old money still has an exponent."""
    return frozenset(list_currencies())


@lru_cache(maxsize=1)
def _tender_currencies() -> frozenset[str]:
    """Codes that are legal tender in some territory today, per CLDR.

    This leaves out what ISO 4217 lists but nobody pays with: test and "no currency" codes (XTS, XXX),
    metals (XAU), funds (CLF, USN) and withdrawn currencies (DEM, HRK).
    """
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, tender=True))
    return frozenset(codes)


def _currency_error(code: object, param: str) -> InvalidInput:
    return InvalidInput(f"{code!r} is not an ISO 4217 currency code in use, e.g. EUR", param=param)


def validate_currency(code: object, *, param: str = "currency") -> str:
    """The upper-cased code when it names a currency in use, else `InvalidInput` for `param`."""
    if not isinstance(code, str):
        raise _currency_error(code, param)
    upper = code.upper()
    if upper not in _tender_currencies():
        raise _currency_error(code, param)
    return upper


@lru_cache(maxsize=512)
def exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit: EUR 2, JPY 0, KWD 3."""
    if currency not in _cldr_currencies():
        # Babel answers 2 for a code it does not know; a wrong exponent would misstate money by 100x.
        raise _currency_error(currency, "currency")
    return int(get_currency_precision(currency))


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units to the exact decimal amount: (1050, "EUR") -> Decimal("10.50")."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be an int of minor units, not {type(amount).__name__}")
    # Built from a string, not with arithmetic: no context precision can round it.
    return Decimal(f"{amount}e-{exponent(currency)}")


def from_decimal(value: Decimal, currency: str, *, param: str = "amount") -> int:
    """The exact decimal amount to minor units: (Decimal("10.50"), "EUR") -> 1050.

    Raises `InvalidInput` when the value has more decimals than the currency (10.505 EUR), is not
    finite, or exceeds `MAX_AMOUNT`: money is never rounded silently.
    """
    if not value.is_finite():
        raise InvalidInput(f"{value} is not an amount of {currency}", param=param)
    sign, digits, exp = value.as_tuple()
    assert isinstance(exp, int)  # finite, checked above
    coefficient = int("".join(map(str, digits)) or "0")
    shift = exp + exponent(currency)
    # Integer arithmetic only; the length check first keeps 1E+999999999 from building a huge int.
    if coefficient and len(str(coefficient)) + shift > len(str(MAX_AMOUNT)):
        raise InvalidInput(f"{value} {currency} is more than the maximum amount", param=param)
    minor: int
    if shift >= 0:
        minor = coefficient * 10**shift
    else:
        divisor: int = 10**-shift
        minor, remainder = divmod(coefficient, divisor)
        if remainder:
            raise InvalidInput(
                f"{value} {currency} has more decimal places than {currency}'s {exponent(currency)}",
                param=param,
            )
    if minor > MAX_AMOUNT:
        raise InvalidInput(f"{value} {currency} is more than the maximum amount", param=param)
    return -minor if sign else minor


def amount_text(amount: int, currency: str) -> str:
    """An amount for a message people read in English (API errors, logs, the CLI): (700, "EUR") ->
    "7.00 EUR", (1050, "JPY") -> "1,050 JPY", (1050, "KWD") -> "1.050 KWD". Every message that names an
    amount goes through this or `format_amount`: "700 EUR" for 7.00 EUR misstates money by 100x."""
    text = format_currency(
        to_decimal(amount, currency), currency, format="#,##0.00 ¤¤", currency_digits=True, locale="en"
    )
    return str(text).replace("\u00a0", " ")


def _known(currency: object) -> str:
    return currency if isinstance(currency, str) and currency in _cldr_currencies() else "EUR"


def _example(currency: str) -> str:
    example = amount_text(_EXAMPLE_AMOUNT, _known(currency))
    return f"an integer in the currency's minor unit, e.g. {_EXAMPLE_AMOUNT} for {example}"


def validate_amount(amount: object, currency: str, *, param: str = "amount", minimum: int = 1) -> int:
    """`amount` as an int of minor units within [minimum, MAX_AMOUNT], else `InvalidInput` for `param`."""
    # bool is an int subclass (True == 1); a float or a string is a caller who thinks in major units.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput(f"{param} must be {_example(currency)}", param=param)
    code = _known(currency)
    if amount < minimum:
        least = amount_text(minimum, code)
        raise InvalidInput(f"{param} must be at least {least}: {_example(currency)}", param=param)
    if amount > MAX_AMOUNT:
        most = amount_text(MAX_AMOUNT, code)
        raise InvalidInput(f"{param} must be at most {most}: {_example(currency)}", param=param)
    return amount


def format_amount(amount: int, currency: str, locale: str = "en") -> str:
    """Display text for people, per locale: (1050, "EUR", "de") -> "10,50 €" (with a no-break space).

    Babel's answer, drawn from a per-(currency, locale) shape Babel itself was asked for once: a reports
    page shows a hundred amounts, and Babel's pattern machinery cost a third of its CPU."""
    shape = _shape(currency, locale)
    if shape is None:
        return _babel_amount(amount, currency, locale)
    return shape.format(amount)


def _babel_amount(amount: int, currency: str, locale: str) -> str:
    return str(format_currency(to_decimal(amount, currency), currency, locale=locale))


@dataclass(frozen=True, slots=True)
class _Shape:
    """How one locale writes one currency: text around the digits, separators, decimals."""

    digits: int
    group: str
    decimal: str
    positive: tuple[str, str]
    negative: tuple[str, str]

    def format(self, amount: int) -> str:
        whole, fraction = divmod(abs(amount), 10**self.digits)
        number = f"{whole:,}".replace(",", self.group)
        if self.digits:
            number += self.decimal + str(fraction).zfill(self.digits)
        before, after = self.negative if amount < 0 else self.positive
        return before + number + after


#: Group separators of 1,234,567 and the decimals after them; anything else (other digits, other grouping)
#: keeps Babel's own formatting.
_NUMBER = re.compile(r"1(?P<group>[^\d]*)234(?P=group)567(?:(?P<decimal>[^\d]+)(?P<fraction>\d+))?")
#: Amounts the shape must format exactly as Babel does before it is used (grouping thresholds, zero,
#: negatives, the largest amount).
_PROBES: Final = (0, 1, 7, 99, 100, 1050, 99_999, 100_000, 1_000_000, 123_456_789, MAX_AMOUNT, -1, -1050)


@lru_cache(maxsize=1024)
def _shape(currency: str, locale: str) -> _Shape | None:
    try:
        digits = exponent(currency)
        probe = 1_234_567 * 10**digits + (int("123456789"[:digits]) if digits else 0)
        shapes = []
        for sign in (1, -1):
            text = _babel_amount(sign * probe, currency, locale)
            found = _NUMBER.search(text)
            if found is None or len(found["fraction"] or "") != digits:
                return None
            shapes.append((found, (text[: found.start()], text[found.end() :])))
    except (ValueError, LookupError, InvalidInput):
        return None  # an unknown locale or currency: Babel says so itself, on the slow path
    (positive, outside), (negative, negative_outside) = shapes
    if (positive["group"], positive["decimal"]) != (negative["group"], negative["decimal"]):
        return None
    shape = _Shape(digits, positive["group"], positive["decimal"] or "", outside, negative_outside)
    if any(shape.format(amount) != _babel_amount(amount, currency, locale) for amount in _PROBES):
        return None
    return shape
