"""The vault's public interface: validate, tokenize, summarize, reveal, fingerprint; the CVC in Redis.

Card numbers are stored only sealed (AES-256-GCM) under the tenant's `card` data key, bound to the tenant
and the token id. What any surface may show is a `CardSummary`: brand, last four, expiry, country.
`reveal` is for the processor call alone. The CVC never reaches the database: it waits in Redis, sealed under
a key of its own (see `stash_cvc`), for at most `ttl_seconds`, and the worker discards it after the
processor's final answer. Card numbers past retention are purged (core/vault/lifetimes.py).

Every function takes the session (or Redis) first and the rest by keyword, flushes and never commits.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session
from stdnum import luhn

from core.clock import Clock, system_clock
from core.errors import Conflict, InvalidInput, NotFound
from core.ids import has_prefix, new_id
from core.keys.service import data_key_id_of, keyed_digest, seal, unseal
from core.kms import KMS, DecryptionFailed
from core.redis import RedisClient
from core.vault.cards import (
    CARD_NUMBER_INVALID,
    SANDBOX_BINS,
    CardDetails,
    bin_country,
    detect_brand,
    normalize_pan,
    validate_card,
    validate_cvc,
)
from core.vault.lifetimes import card_aad as _card_aad
from core.vault.models import CardBrand, KeyPurpose, VaultCard
from core.vault.rotation import RotationFailed, RotationPlan, rotate_master_key, rotation_plan

__all__ = [
    "SANDBOX_BINS",
    "CardDataPurged",
    "CardDetails",
    "CardSummary",
    "RotationFailed",
    "RotationPlan",
    "bin_country",
    "card_summary",
    "detect_brand",
    "discard_cvc",
    "fingerprint_of",
    "peek_cvc",
    "reveal",
    "rotate_master_key",
    "rotation_plan",
    "seal",
    "stash_cvc",
    "tokenize",
    "unseal",
    "validate_card",
    "validate_cvc",
]

#: How long a CVC may wait in Redis for its authorization, by default.
CVC_TTL_SECONDS = 900


@dataclass(frozen=True)
class CardSummary:
    """What may be shown of a tokenized card: never the number, never the CVC."""

    token_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    #: Issuing country from the BIN, or None.
    country: str | None
    #: Per-tenant keyed fingerprint of the PAN (risk screening); not for display.
    fingerprint: str

    def as_api(self) -> dict[str, object]:
        """The `card` object of the REST API's payment."""
        return {
            "brand": self.brand,
            "last4": self.last4,
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
            "country": self.country,
        }


def _summary(card: VaultCard) -> CardSummary:
    return CardSummary(
        token_id=card.id,
        brand=str(card.brand),
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        country=card.bin_country,
        fingerprint=card.fingerprint,
    )


class CardDataPurged(Conflict):
    """The token's card number was erased by the retention policy; only its summary is left."""

    code = "card_data_purged"


def fingerprint_of(
    session: Session, *, tenant_id: str, pan: str, kms: KMS, clock: Clock = system_clock
) -> str:
    """The tenant's keyed fingerprint of a card number: equal for equal numbers, per tenant."""
    return keyed_digest(
        session, tenant_id=tenant_id, message=normalize_pan(pan).encode("ascii"), kms=kms, clock=clock
    )


def tokenize(session: Session, *, tenant_id: str, card: CardDetails, kms: KMS, clock: Clock) -> CardSummary:
    """Store a card (already checked by `validate_card`) as a new token; each call makes a new one."""
    if not card.pan.isascii() or not card.pan.isdigit() or not luhn.is_valid(card.pan):
        raise InvalidInput(CARD_NUMBER_INVALID, param="card_number")
    token_id = new_id("tok")
    payload = json.dumps(
        {"pan": card.pan, "exp_month": card.exp_month, "exp_year": card.exp_year}, separators=(",", ":")
    ).encode()
    sealed = seal(
        session,
        tenant_id=tenant_id,
        purpose=KeyPurpose.CARD,
        plaintext=payload,
        kms=kms,
        aad=_card_aad(tenant_id, token_id),
        clock=clock,
    )
    row = VaultCard(
        tenant_id=tenant_id,
        id=token_id,
        data_key_id=data_key_id_of(sealed),
        pan_encrypted=sealed,
        fingerprint=fingerprint_of(session, tenant_id=tenant_id, pan=card.pan, kms=kms, clock=clock),
        brand=CardBrand(detect_brand(card.pan)),
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        bin_country=bin_country(card.pan),
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return _summary(row)


def _card(session: Session, *, tenant_id: str, token_id: str) -> VaultCard:
    # The message never echoes the id: a caller may have put a card number where the token belongs.
    missing = NotFound("No such card token.", param="token")
    if not has_prefix(token_id, "tok"):
        raise missing
    bound = session.info.get("tenant_id")
    card = session.get(VaultCard, (tenant_id, token_id)) if bound in (None, tenant_id) else None
    if card is None:
        raise missing
    return card


def card_summary(session: Session, *, tenant_id: str, token_id: str) -> CardSummary:
    """Brand, last four, expiry and country of a token; `NotFound` for an unknown or another tenant's id."""
    return _summary(_card(session, tenant_id=tenant_id, token_id=token_id))


def reveal(session: Session, *, tenant_id: str, token_id: str, kms: KMS) -> CardDetails:
    """The card number and expiry in clear, for the processor call only. Never log or store the result."""
    card = _card(session, tenant_id=tenant_id, token_id=token_id)
    if card.pan_encrypted is None:
        raise CardDataPurged(
            "This card's number was purged after its retention period; ask for the card again."
        )
    plaintext = unseal(
        session,
        tenant_id=tenant_id,
        purpose=KeyPurpose.CARD,
        blob=card.pan_encrypted,
        kms=kms,
        aad=_card_aad(tenant_id, card.id),
    )
    data = json.loads(plaintext)
    return CardDetails(pan=str(data["pan"]), exp_month=int(data["exp_month"]), exp_year=int(data["exp_year"]))


# --- the CVC: Redis only, sealed, short-lived ------------------------------------------------------------


def _cvc_key(tenant_id: str, token_id: str) -> str:
    # Ids only: a key name is visible to anyone who can run SCAN, so it must never carry card data.
    if not has_prefix(tenant_id, "ten") or not has_prefix(token_id, "tok"):
        raise ValueError("CVC stash needs a tenant id (ten_…) and a card token id (tok_…)")
    return f"kassa:vault:cvc:{tenant_id}:{token_id}"


def _cvc_context(tenant_id: str, token_id: str) -> str:
    return f"vault.cvc:{tenant_id}:{token_id}"


#: First byte of a sealed CVC: `version | master key id (8) | salt (16) | nonce (12) | ciphertext+tag`.
_CVC_VERSION: Final = b"\x02"
_CVC_SALT: Final = 16
_LEGACY_KMS_BLOB: Final = b"\x01"
#: The KMS purpose key CVCs are sealed under: never the card data key, nor the key `kms.encrypt` uses.
CVC_PURPOSE: Final = "cvc"


def _cvc_aead(kms: KMS, *, key_id: bytes, salt: bytes, context: str) -> AESGCM:
    # One key per CVC: HKDF of the `cvc` purpose key with a random salt and the token's context. No key
    # ever seals two messages, so the 2^32-message budget of random GCM nonces can never be approached.
    base = kms.purpose_key(CVC_PURPOSE, key_id=key_id)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=context.encode()).derive(base)
    return AESGCM(key)


def seal_cvc(cvc: str, *, tenant_id: str, token_id: str, kms: KMS) -> bytes:
    context, key_id, salt, nonce = (
        _cvc_context(tenant_id, token_id),
        kms.current_key_id,
        os.urandom(16),
        os.urandom(12),
    )
    sealed = _cvc_aead(kms, key_id=key_id, salt=salt, context=context).encrypt(nonce, cvc.encode(), None)
    return _CVC_VERSION + key_id + salt + nonce + sealed


def open_cvc(blob: bytes, *, tenant_id: str, token_id: str, kms: KMS) -> str:
    if blob[:1] == _LEGACY_KMS_BLOB:
        # Stashed before CVCs had a key of their own: sealed by the KMS itself. Gone 15 minutes after an
        # upgrade (their TTL); kept readable so a payment in flight across the upgrade keeps its CVC.
        return kms.decrypt(blob, context=_cvc_context(tenant_id, token_id)).decode()
    if len(blob) < 1 + 8 + _CVC_SALT + 12 + 16 or blob[:1] != _CVC_VERSION:
        raise DecryptionFailed("not a sealed CVC")
    key_id, salt = blob[1:9], blob[9 : 9 + _CVC_SALT]
    nonce, sealed = blob[9 + _CVC_SALT : 21 + _CVC_SALT], blob[21 + _CVC_SALT :]
    aead = _cvc_aead(kms, key_id=key_id, salt=salt, context=_cvc_context(tenant_id, token_id))
    try:
        return aead.decrypt(nonce, sealed, None).decode()
    except InvalidTag:
        raise DecryptionFailed("sealed CVC failed authentication") from None


def stash_cvc(
    redis: RedisClient,
    *,
    tenant_id: str,
    token_id: str,
    cvc: str,
    kms: KMS,
    ttl_seconds: int = CVC_TTL_SECONDS,
) -> None:
    """Keep a (validated) CVC, sealed under a key of its own (`seal_cvc`), until authorization or
    `ttl_seconds`, whichever first."""
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    key = _cvc_key(tenant_id, token_id)
    redis.set(key, seal_cvc(cvc, tenant_id=tenant_id, token_id=token_id, kms=kms), ex=ttl_seconds)


def peek_cvc(redis: RedisClient, *, tenant_id: str, token_id: str, kms: KMS) -> str | None:
    """The stashed CVC, or None once it expired or was discarded. Leaves it in place (retries need it)."""
    blob = redis.get(_cvc_key(tenant_id, token_id))
    if blob is None:
        return None
    if not isinstance(blob, bytes):  # pragma: no cover - a client built with decode_responses=True
        raise TypeError("the vault needs a Redis client that returns bytes")
    return open_cvc(blob, tenant_id=tenant_id, token_id=token_id, kms=kms)


def discard_cvc(redis: RedisClient, *, tenant_id: str, token_id: str) -> None:
    """Delete the stashed CVC (after the processor's final answer). Safe to call twice."""
    redis.delete(_cvc_key(tenant_id, token_id))
