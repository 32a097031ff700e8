"""The vault's public interface: validate, tokenize, summarize, reveal, fingerprint; the CVC in Redis.

Card numbers are stored only sealed (AES-256-GCM) under the tenant's `card` data key, bound to the tenant
and the token id. What any surface may show is a `CardSummary`: brand, last four, expiry, country.
`reveal` is for the processor call alone. The CVC never reaches the database: it waits in Redis, sealed by
the KMS, for at most `ttl_seconds`, and the worker discards it after the processor's final answer.

Every function takes the session (or Redis) first and the rest by keyword, flushes and never commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.orm import Session
from stdnum import luhn

from core.clock import Clock, system_clock
from core.errors import InvalidInput, NotFound
from core.ids import has_prefix, new_id
from core.jobs.queues import RedisClient
from core.kms import KMS
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
from core.vault.keys import data_key_id_of, keyed_digest, seal, unseal
from core.vault.models import CardBrand, KeyPurpose, VaultCard
from core.vault.rotation import RotationFailed, RotationPlan, rotate_master_key, rotation_plan

__all__ = [
    "SANDBOX_BINS",
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


def _card_aad(tenant_id: str, token_id: str) -> bytes:
    return f"vault_cards:{tenant_id}:{token_id}".encode()


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


def stash_cvc(
    redis: RedisClient,
    *,
    tenant_id: str,
    token_id: str,
    cvc: str,
    kms: KMS,
    ttl_seconds: int = CVC_TTL_SECONDS,
) -> None:
    """Keep a (validated) CVC, sealed by the KMS, until authorization or `ttl_seconds`, whichever first."""
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    key = _cvc_key(tenant_id, token_id)
    redis.set(key, kms.encrypt(cvc.encode(), context=_cvc_context(tenant_id, token_id)), ex=ttl_seconds)


def peek_cvc(redis: RedisClient, *, tenant_id: str, token_id: str, kms: KMS) -> str | None:
    """The stashed CVC, or None once it expired or was discarded. Leaves it in place (retries need it)."""
    blob = redis.get(_cvc_key(tenant_id, token_id))
    if blob is None:
        return None
    if not isinstance(blob, bytes):  # pragma: no cover - a client built with decode_responses=True
        raise TypeError("the vault needs a Redis client that returns bytes")
    return kms.decrypt(blob, context=_cvc_context(tenant_id, token_id)).decode()


def discard_cvc(redis: RedisClient, *, tenant_id: str, token_id: str) -> None:
    """Delete the stashed CVC (after the processor's final answer). Safe to call twice."""
    redis.delete(_cvc_key(tenant_id, token_id))
