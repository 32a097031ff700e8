"""How portal passwords are hashed: argon2id, with one hasher per process chosen from the settings.

Production (and every Kassa whose settings do not say otherwise) uses `PRODUCTION`: argon2id with
argon2-cffi's RFC 9106 "low memory" profile (64 MiB, 3 passes, 4 lanes), above OWASP's minimum
(19 MiB, 2 passes, 1 lane). The test suite selects `CHEAP` (`Settings.password_hashing =
"argon2id-cheap"`): still argon2id, so every hash, verification and rehash runs the real code, at the
smallest cost argon2 allows. `Settings.validate` refuses the cheap one outside KASSA_ENV=test on a
localhost base URL, and `configure` checks again, so a production process cannot end up with it.

The composition root calls `configure(settings)` (`create_app`); the services call `current()`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from core.config import PASSWORD_HASHING, Settings

PRODUCTION: Final = PasswordHasher(
    time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16, type=Type.ID
)
#: argon2's minimum cost (8 KiB, one pass, one lane): microseconds instead of a large fraction of a second.
CHEAP: Final = PasswordHasher(
    time_cost=1, memory_cost=8, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)

#: The argon2id hash of a random password nobody knows, made with `PRODUCTION`'s parameters: an unknown
#: email is checked against it. A constant, not made on first use: the first unknown email after a
#: restart would otherwise cost a hash and a verification, twice a known one's.
PRODUCTION_DUMMY_HASH: Final = (
    "$argon2id$v=19$m=65536,t=3,p=4$QfXU9++qxv7PwfqiIqTuag$C5RdHUfhuyKQL0m85la50XLPbMZ37hlwBYb40zUf/B0"
)


@dataclass(frozen=True)
class Passwords:
    """A hasher and the dummy hash an unknown email is verified against (made with the same parameters,
    so an unknown email and a wrong password cost the same)."""

    hasher: PasswordHasher
    dummy_hash: str

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)

    def burn_time(self, password: str) -> None:
        """One verification against the dummy hash: what an unknown email costs."""
        self.verify(self.dummy_hash, password)


def passwords_for(hasher: PasswordHasher) -> Passwords:
    """`hasher` with its dummy hash, made now (never on the first unknown email) unless it is the
    production constant's."""
    if not hasher.check_needs_rehash(PRODUCTION_DUMMY_HASH):
        return Passwords(hasher, PRODUCTION_DUMMY_HASH)
    return Passwords(hasher, hasher.hash(secrets.token_urlsafe(16)))


_PRODUCTION_PASSWORDS: Final = Passwords(PRODUCTION, PRODUCTION_DUMMY_HASH)
_current: list[Passwords] = [_PRODUCTION_PASSWORDS]


def configure(settings: Settings) -> Passwords:
    """Install the hasher `settings.password_hashing` names for this process and return it. Checks the
    choice again (a `Settings` built by hand skipped `validate`): the cheap one raises
    `ConfigurationError` outside KASSA_ENV=test on a localhost base URL."""
    settings.check_password_hashing()
    chosen = _PRODUCTION_PASSWORDS if settings.password_hashing == PASSWORD_HASHING else _cheap()
    return install(chosen)


def install(passwords: Passwords) -> Passwords:
    """Use `passwords` from now on (`configure` chooses; a test may install a counting hasher)."""
    _current[0] = passwords
    return passwords


def current() -> Passwords:
    return _current[0]


_cheap_cache: list[Passwords] = []


def _cheap() -> Passwords:
    if not _cheap_cache:
        _cheap_cache.append(passwords_for(CHEAP))
    return _cheap_cache[0]
