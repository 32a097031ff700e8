"""Prefixed, random, time-sortable ids: `pay_01jd8x...`, `cs_01jd8x...`.

Two shapes, both in lower-case Crockford base32 and both starting with the 48-bit millisecond timestamp
(10 characters), so ids of one prefix sort by creation time as plain strings (index locality on
`(tenant_id, id)`, cursor pagination by id):

- **Credentials** (`CREDENTIAL_PREFIXES`): ids that alone grant access, like a checkout session's, which
  is the address of its hosted page and its receipt. The timestamp is followed by 26 characters, 130 bits
  from the OS random source (`secrets`), fresh for every id: no id seen by anyone says anything about
  another one. 36 characters after the prefix.
- **Everything else**: a ULID (the timestamp + 80 random bits, 26 characters), monotonic within a
  process so rows made one after the other (a payment's status history, a journal's entries, the outbox)
  sort in the order they were made. Within one millisecond the random part grows by a random step of
  40 bits from `secrets` (not by one), so an id does not give away its neighbours either; none of these
  ids opens anything without a key or a session of its tenant.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Final

_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
_DECODE: Final = {char: value for value, char in enumerate(_ALPHABET)}
#: Characters of the millisecond timestamp that starts every body (48 bits, padded to 50).
_TIME_LENGTH: Final = 10
#: A ULID body: timestamp and 80 random bits.
_BODY_LENGTH: Final = 26
_RANDOM_BITS: Final = 80
#: A credential's random part: 26 characters, 130 bits from the OS random source.
_CREDENTIAL_RANDOM_LENGTH: Final = 26
CREDENTIAL_BODY_LENGTH: Final = _TIME_LENGTH + _CREDENTIAL_RANDOM_LENGTH
#: Within one millisecond an ordered id's random part grows by 2**40 plus 40 random bits.
_STEP_BITS: Final = 40

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
        "lrver",  # locality rule versions
        "logo",  # tenants' checkout logos
        "txn",  # balance transactions
        "ba",  # bank accounts
        "dp",
        "dpf",  # disputes and their evidence files
        "rcn",
        "rcd",  # reconciliation runs and their differences
        "whd",
        "wha",  # webhook deliveries and their attempts
        "ntf",
        "ntr",
        "ntp",  # notifications, their recipients, notification preferences
        "alth",  # a tenant's alert thresholds
        "sso",  # tenants' single sign-on providers
        "rc",  # portal users' one-time recovery codes (only their keyed hash is stored)
        "pwr",  # password resets (the emailed token is a keyed MAC of this id, never stored)
        "aver",  # audit-chain verifications (who checked a tenant's chain, when, with what result)
        "role",  # custom roles
        "inv",  # team invitations (the link's token is separate, 256 random bits)
        "apol",
        "apr",  # approval policies and requests (four-eyes)
        "rsch",
        "rexp",  # scheduled report exports and each file they produced
    }
)

#: Ids that alone grant access, and so carry 130 random bits: a checkout session's id is the address of
#: its hosted page, embed page and receipt (`/pay/<cs>`, `/embed/<cs>`, `/pay/<cs>/receipt`). A payment
#: link's address is its slug, not its `plink_` id (core/links/service.py makes the slug just as long); a
#: receipt's `rcpt_` id only names an email, which the shopper reaches through the session.
CREDENTIAL_PREFIXES: Final = frozenset({"cs"})


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * 32 + _DECODE[char]
    return number


_lock = threading.Lock()
_last = [0, 0]  # [milliseconds, random part] of the last ordered id made by this process


def _ordered(now_ms: int | None) -> int:
    """The 130-bit value of a new ULID: fresh random bits for a new millisecond (or a given one), else
    the last value plus a random step, so ids made one after the other in this process sort in order."""
    if now_ms is not None:
        return (now_ms << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)
    step = (1 << _STEP_BITS) + secrets.randbits(_STEP_BITS)
    with _lock:
        ms = max(int(time.time() * 1000), _last[0])
        rand = _last[1] + step if ms == _last[0] else secrets.randbits(_RANDOM_BITS - 1)
        if rand >= 1 << _RANDOM_BITS:  # the random part overflowed: borrow the next millisecond
            ms, rand = ms + 1, secrets.randbits(_RANDOM_BITS - 1)
        _last[0], _last[1] = ms, rand
    return (ms << _RANDOM_BITS) | rand


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """A new id of `prefix` (see the module's docstring for the two shapes). `now_ms` fixes the
    timestamp (tests); the random part is drawn as always."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    if prefix in CREDENTIAL_PREFIXES:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        random_part = secrets.randbits(5 * _CREDENTIAL_RANDOM_LENGTH)
        return f"{prefix}_{_encode(ms, _TIME_LENGTH)}{_encode(random_part, _CREDENTIAL_RANDOM_LENGTH)}"
    return f"{prefix}_{_encode(_ordered(now_ms), _BODY_LENGTH)}"


def body_length(prefix: str) -> int:
    """How many characters follow `prefix_` in an id of this prefix."""
    return CREDENTIAL_BODY_LENGTH if prefix in CREDENTIAL_PREFIXES else _BODY_LENGTH


def has_prefix(value: str, prefix: str) -> bool:
    """True when `value` is shaped like an id of this prefix (used to reject junk before a query)."""
    head, sep, body = value.partition("_")
    return (
        bool(sep)
        and head == prefix
        and len(body) == body_length(prefix)
        and all(c in _DECODE for c in body)
        and body[0] in "01234567"  # a 130-bit value in 26 characters: the top two bits are clear
    )


def timestamp_ms(value: str) -> int:
    """When the id was made (milliseconds since the epoch): its first 10 body characters, in both shapes."""
    return _decode(value.partition("_")[2][:_TIME_LENGTH])


def random_part(value: str) -> int:
    """The part of the id after its timestamp, as a number (130 random bits for a credential)."""
    return _decode(value.partition("_")[2][_TIME_LENGTH:])


def floor_id(prefix: str, *, at_ms: int) -> str:
    """The lowest possible ordered id of `prefix` made at `at_ms`: every id made before sorts below it (a
    range bound on a primary key, e.g. for pruning by age)."""
    if prefix not in PREFIXES or prefix in CREDENTIAL_PREFIXES:
        raise ValueError(f"no ordered ids of prefix {prefix!r}")
    return f"{prefix}_{_encode(at_ms << _RANDOM_BITS, _BODY_LENGTH)}"
