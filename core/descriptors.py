"""Statement descriptors: the text a shopper's card or bank statement shows for a payment.

The rules are the card networks' (the strictest common subset of Visa's and Mastercard's merchant-name
field, as acquirers enforce it): 5 to 22 characters of basic Latin letters, digits, spaces and
`. , - * & '`, with at least one letter, stored upper-cased. Anything else (accents, `<`, `>`, `"`, `\\`,
emoji) is mangled or refused somewhere along the network, so it is refused here, before it is shown to a
shopper as a promise.

When a tenant sets none, one is derived from the checkout's display name: folded to ASCII, upper-cased,
stripped of characters the networks refuse and cut to 22 characters. When that leaves fewer than 5
characters or no letter (a name in another script, say), the fallback is `KASSA* <SLUG>`, the tenant's
slug after Kassa's prefix, as payment facilitators write sub-merchants' names.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Final

from core.errors import InvalidInput

MIN_LENGTH: Final = 5
MAX_LENGTH: Final = 22
ALLOWED: Final = frozenset(string.ascii_letters + string.digits + " .,-*&'")
#: Prefix of the fallback descriptor (a payment facilitator's prefix, then the sub-merchant).
FALLBACK_PREFIX: Final = "KASSA* "
#: Latin letters that Unicode decomposition does not reduce to ASCII, spelled the way banks spell them.
_FOLD: Final = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "\u0131": "i",  # dotless i
    }
)
_SPACES: Final = re.compile(r" {2,}")


def is_valid(value: str) -> bool:
    """True when `value` is a descriptor as stored: within the rules and upper-cased."""
    return (
        MIN_LENGTH <= len(value) <= MAX_LENGTH
        and set(value) <= ALLOWED
        and any(c.isalpha() for c in value)
        and value == value.upper()
        and value == value.strip()
    )


def normalize(value: str, *, param: str = "statement_descriptor") -> str:
    """A descriptor as the merchant wrote it, checked and stored form (upper case, single spaces)."""
    text = _SPACES.sub(" ", value.strip(" "))
    refused = sorted({c for c in text if c not in ALLOWED}, key=text.index)
    if refused:
        shown = ", ".join(repr(c) for c in refused[:5])
        raise InvalidInput(
            f"{param} may contain only Latin letters A-Z without accents, digits, spaces and . , - * & ' "
            f"(found {shown}).",
            param=param,
        )
    if not MIN_LENGTH <= len(text) <= MAX_LENGTH:
        raise InvalidInput(
            f"{param} must be {MIN_LENGTH}-{MAX_LENGTH} characters long (it is {len(text)}).", param=param
        )
    if not any(c.isalpha() for c in text):
        raise InvalidInput(f"{param} must contain at least one letter.", param=param)
    return text.upper()


def _fold(text: str) -> str:
    """`text` reduced to the characters a descriptor may hold: accents folded, the rest dropped."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    kept = "".join(c if c in ALLOWED else " " if c.isspace() else "" for c in decomposed)
    return _SPACES.sub(" ", kept).strip()


def derive(display_name: str, *, slug: str) -> str:
    """The descriptor of a tenant that set none: its display name, else `KASSA* <SLUG>`."""
    candidate = _fold(display_name).upper()[:MAX_LENGTH].strip()
    if is_valid(candidate):
        return candidate
    fallback = (FALLBACK_PREFIX + _fold(slug).upper())[:MAX_LENGTH].strip()
    return fallback if is_valid(fallback) else FALLBACK_PREFIX.strip()
