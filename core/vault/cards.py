"""Card numbers, expiry dates and security codes: validation, brand and BIN country. No storage here.

Nothing in this module puts a card number into a message, a repr or a log line: error messages name the
field and the rule, and `CardDetails` shows only the last four digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from stdnum import luhn

from core.clock import Clock
from core.errors import InvalidInput
from core.vault.models import CardBrand

_SEPARATORS: Final = re.compile(r"[\s-]+")
_PAN: Final = re.compile(r"[0-9]{12,19}")  # ASCII digits only: str.isdigit() would accept "²" or "٣"
_DIGITS: Final = re.compile(r"[0-9]+")
#: A card may be valid for at most this many years ahead; anything further is a typo.
MAX_YEARS_AHEAD: Final = 20

CARD_NUMBER_INVALID: Final = "Card number is not valid. Check the digits."


@dataclass(frozen=True)
class CardDetails:
    """A validated card number and expiry. Its repr and str show only the last four digits."""

    pan: str = field(repr=False)
    exp_month: int
    exp_year: int

    @property
    def last4(self) -> str:
        return self.pan[-4:]

    def __repr__(self) -> str:
        return f"CardDetails(pan='…{self.last4}', exp_month={self.exp_month}, exp_year={self.exp_year})"

    __str__ = __repr__


def normalize_pan(pan: object) -> str:
    """The card number without spaces or dashes (not yet validated)."""
    if not isinstance(pan, str):
        return ""
    return _SEPARATORS.sub("", pan)


def validate_card(pan: str, exp_month: object, exp_year: object, *, clock: Clock) -> CardDetails:
    """Check a card number and expiry as a shopper typed them; `InvalidInput` names the field at fault."""
    number = normalize_pan(pan)
    if not number:
        raise InvalidInput("Enter the card number.", param="card_number")
    if not _PAN.fullmatch(number) or not luhn.is_valid(number):
        raise InvalidInput(CARD_NUMBER_INVALID, param="card_number")
    month = _month(exp_month)
    year = _year(exp_year)
    now = clock.now()
    # A card is good through the last day of its expiry month.
    if year < now.year:
        raise InvalidInput("Expiry date is in the past.", param="exp_year")
    if year == now.year and month < now.month:
        raise InvalidInput("Expiry date is in the past.", param="exp_month")
    if year > now.year + MAX_YEARS_AHEAD:
        raise InvalidInput(
            f"Expiry year is more than {MAX_YEARS_AHEAD} years away. Check the date.", param="exp_year"
        )
    return CardDetails(pan=number, exp_month=month, exp_year=year)


def _whole_number(value: object) -> tuple[int, int] | None:
    """(value, digits typed) for an int or a string of ASCII digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value, len(str(value))) if value >= 0 else None
    if isinstance(value, str):
        text = value.strip()
        if _DIGITS.fullmatch(text):
            return int(text), len(text)
    return None


def _month(value: object) -> int:
    parsed = _whole_number(value)
    if parsed is None or parsed[1] > 2 or not 1 <= parsed[0] <= 12:
        raise InvalidInput("Expiry month must be a number from 1 to 12.", param="exp_month")
    return parsed[0]


def _year(value: object) -> int:
    parsed = _whole_number(value)
    if parsed is not None:
        number, digits = parsed
        if digits <= 2:
            return 2000 + number
        if digits == 4:
            return number
    raise InvalidInput("Expiry year must have 2 or 4 digits (for example 28 or 2028).", param="exp_year")


def validate_cvc(cvc: object, *, brand: str) -> str:
    """The security code as typed: 3 digits, or 4 for American Express. Never stored (see stash_cvc)."""
    length = 4 if brand == CardBrand.AMEX else 3
    text = cvc.strip() if isinstance(cvc, str) else ""
    if len(text) != length or not _DIGITS.fullmatch(text):
        raise InvalidInput(f"Security code must be {length} digits.", param="cvc")
    return text


#: Issuer identification number ranges, checked in order: (brand, prefix length, first, last).
_IIN_RANGES: Final[tuple[tuple[CardBrand, int, int, int], ...]] = (
    (CardBrand.AMEX, 2, 34, 34),
    (CardBrand.AMEX, 2, 37, 37),
    (CardBrand.VISA, 1, 4, 4),
    (CardBrand.MASTERCARD, 2, 51, 55),
    (CardBrand.MASTERCARD, 4, 2221, 2720),
    (CardBrand.DISCOVER, 4, 6011, 6011),
    (CardBrand.DISCOVER, 3, 644, 649),
    (CardBrand.DISCOVER, 2, 65, 65),
    (CardBrand.JCB, 4, 3528, 3589),
    (CardBrand.DINERS, 3, 300, 305),
    (CardBrand.DINERS, 4, 3095, 3095),
    (CardBrand.DINERS, 2, 36, 36),
    (CardBrand.DINERS, 2, 38, 39),
    # 622126-622925 is co-branded Discover/UnionPay; those cards are issued in China, so UnionPay.
    (CardBrand.UNIONPAY, 2, 62, 62),
    (CardBrand.UNIONPAY, 2, 81, 81),
    # Maestro (debit): what is left of 50 and 56-69 once the ranges above have matched.
    (CardBrand.MAESTRO, 2, 50, 50),
    (CardBrand.MAESTRO, 2, 56, 58),
    (CardBrand.MAESTRO, 2, 63, 63),
    (CardBrand.MAESTRO, 2, 67, 67),
)
#: The same table for the checkout page's script (static/checkout/card.js), which shows the brand as the
#: shopper types: rendered into the page, so the page and the server always agree.
IIN_RANGES: Final = _IIN_RANGES


def detect_brand(pan: str) -> str:
    """The card network from the number's leading digits (`unknown` when no range matches)."""
    number = normalize_pan(pan)
    if not _DIGITS.fullmatch(number):
        return CardBrand.UNKNOWN
    for brand, length, first, last in _IIN_RANGES:
        if len(number) >= length and first <= int(number[:length]) <= last:
            return brand
    return CardBrand.UNKNOWN


#: Sandbox BIN table: the issuing country of the test cards, by their first eight or six digits (the
#: longest matching prefix wins, as with the networks' 8-digit BINs).
#:
#: This is deliberately tiny. A production deployment plugs a licensed BIN database in here (the
#: networks' BIN files or a BIN-lookup service); Kassa only needs `bin_country(pan) -> str | None`.
SANDBOX_BINS: Final[dict[str, str]] = {
    "424242": "US",  # 4242 4242 4242 4242, succeeds
    "400000": "US",  # 4000 0000 0000 0002 / 9995 / 0069 / 0119, the decline and error cards
    # 4000 0027 6000 3184, the 3-D Secure challenge card: a German issuer. Its first six digits are the
    # decline cards' 400000, hence the 8-digit entry.
    "40000027": "DE",
    "400002": "DE",
    "401288": "US",  # 4012 8888 8888 1881
    "555555": "US",  # 5555 5555 5555 4444
    "510510": "US",  # 5105 1051 0510 5100
    "222300": "US",  # 2223 0031 2200 3222, Mastercard 2-series
    "378282": "US",  # 3782 822463 10005, American Express
    "371449": "US",  # 3714 496353 98431, American Express
    "601111": "US",  # 6011 1111 1111 1117, Discover
    "353011": "JP",  # 3530 1113 3330 0000, JCB
    "305693": "US",  # 3056 9300 0902 0004, Diners Club
    "620000": "CN",  # 6200 0000 0000 0005, UnionPay
}


def bin_country(pan: str) -> str | None:
    """ISO 3166-1 alpha-2 country of the card's issuer, from its BIN; None when unknown."""
    number = normalize_pan(pan)
    return SANDBOX_BINS.get(number[:8]) or SANDBOX_BINS.get(number[:6])
