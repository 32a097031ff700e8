"""Prefixed, random, time-sortable ids: `pay_01jd8x...`.

The body is a ULID (48-bit millisecond timestamp + 80 random bits) in lower-case Crockford base32, so ids
sort by creation time as plain strings (index locality on `(tenant_id, id)`) and reveal nothing but the
moment they were made.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Final

_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_LENGTH: Final = 26

PREFIXES: Final = frozenset(
    {
        "ten",
        "usr",
        "mem",
        "key",
        "aud",
        "obx",  # foundation
        "cs",
        "pay",
        "psh",
        "re",
        "po",
        "evt",
        "we",
        "tok",
        "dk",  # vault data keys
        "plink",  # payments and friends
        "blk",  # risk block-list entries
        "jrn",
        "ent",  # ledger journals and entries
        "rcpt",  # emailed receipts
        "lrule",  # locality rules
        "logo",  # tenants' checkout logos
    }
)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


_lock = threading.Lock()
_last = [0, 0]  # [milliseconds, random part] of the last id made by this process


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """A new id. Within one process ids are strictly increasing, even within one millisecond (the
    random part is then the previous one plus one, as in monotonic ULIDs), so rows made one after
    the other, like a payment's status history, sort in the order they were made."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    if now_ms is not None:
        return f"{prefix}_{_encode((now_ms << 80) | secrets.randbits(80), _BODY_LENGTH)}"
    with _lock:
        ms = max(int(time.time() * 1000), _last[0])
        rand = _last[1] + 1 if ms == _last[0] else secrets.randbits(79)
        if rand >= 1 << 80:  # the random part overflowed: borrow the next millisecond
            ms, rand = ms + 1, secrets.randbits(79)
        _last[0], _last[1] = ms, rand
    return f"{prefix}_{_encode((ms << 80) | rand, _BODY_LENGTH)}"


def has_prefix(value: str, prefix: str) -> bool:
    """True when `value` is shaped like an id of this prefix (used to reject junk before a query)."""
    head, sep, body = value.partition("_")
    return bool(sep) and head == prefix and len(body) == _BODY_LENGTH and all(c in _ALPHABET for c in body)


def timestamp_ms(value: str) -> int:
    body = value.partition("_")[2]
    number = 0
    for char in body:
        number = number * 32 + _ALPHABET.index(char)
    return number >> 80
