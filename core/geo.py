"""Countries and locales from CLDR (Babel), not hand lists."""

from __future__ import annotations

import functools
import re

from babel import Locale

from core.errors import InvalidInput

#: CLDR's two-letter codes that are groupings or placeholders, not countries.
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ"})
#: Locales the checkout surfaces are translated into.
CHECKOUT_LOCALES = ("en", "de", "fr", "es", "nl")


@functools.cache
def countries() -> frozenset[str]:
    codes = (str(code) for code in Locale("en").territories)
    return frozenset(
        code for code in codes if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


def validate_country(value: object, *, param: str = "country") -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if code not in countries():
        raise InvalidInput(f"Country {value!r} is not an ISO 3166-1 alpha-2 code (e.g. DE, US).", param=param)
    return code


def validate_locale(value: object, *, param: str = "locale") -> str:
    code = value.strip().lower().replace("_", "-") if isinstance(value, str) else ""
    language = code.split("-")[0]
    if language not in CHECKOUT_LOCALES:
        raise InvalidInput(f"Locale must be one of {', '.join(CHECKOUT_LOCALES)} (or 'auto').", param=param)
    return language


#: The one email rule, for every address Kassa takes (`kassa users create`, the portal's sign-in form, a
#: session's `customer_email`, a receipt request). Syntax only, never DNS: special-use names (RFC 6761:
#: `shop.test`, `example.com`, `dev.localhost`) are accepted, as a merchant's test setup uses them.
#: Local part: RFC 5322 dot-atom characters, or any non-ASCII character (RFC 6531).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
#: A DNS label: letters, digits and inner hyphens, at most 63 characters.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9\u0080-\U0010ffff-]{1,63}(?<!-)")
#: The last label names a top-level domain: letters (or an IDNA `xn--` label), never digits alone.
_TOP_LABEL = re.compile(r"(?:[A-Za-z\u0080-\U0010ffff]{2,63}|xn--[A-Za-z0-9-]{1,59})")


def is_email(value: str) -> bool:
    """An address by Kassa's one rule: `local@domain.tld`, at most 320 characters (64 before the @), no
    spaces; a domain of at most 253 characters, of two labels or more, none empty or hyphen-edged, and a
    top-level domain of letters. Reserved and special-use domains (`.test`, `.example`, `.localhost`)
    pass: only syntax is checked."""
    if not isinstance(value, str) or len(value) > 320 or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    labels = domain.split(".")
    return (
        len(local) <= 64
        and len(domain) <= 253
        and _LOCAL.fullmatch(local) is not None
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and _TOP_LABEL.fullmatch(labels[-1]) is not None
    )
