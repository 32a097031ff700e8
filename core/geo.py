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


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_email(value: str) -> bool:
    """Shaped like an address (one @, a dot in the domain, no spaces, at most 320 characters)."""
    return len(value) <= 320 and bool(_EMAIL.match(value))
