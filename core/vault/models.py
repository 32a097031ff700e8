"""Vault tables: per-tenant data keys (wrapped by the KMS) and card tokens (sealed under a data key)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKeyConstraint, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, TenantScoped, Timestamp, str_enum


class KeyPurpose(StrEnum):
    #: Seals card numbers and expiry dates (`vault_cards.pan_encrypted`).
    CARD = "card"
    #: HMAC key of card fingerprints. Never replaced (only re-wrapped), so fingerprints stay stable.
    FINGERPRINT = "fingerprint"
    #: Seals audit event details.
    AUDIT = "audit"


class CardBrand(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    JCB = "jcb"
    DINERS = "diners"
    UNIONPAY = "unionpay"
    MAESTRO = "maestro"
    UNKNOWN = "unknown"


class DataKey(TenantScoped, Base):
    """A random 256-bit key of a tenant and purpose, stored only wrapped (encrypted) by the KMS.

    A purpose may have several generations: the one not retired seals, every one still present opens
    what it sealed (`kassa keys rotate --data-keys`, core/vault/lifetimes.py).
    """

    __tablename__ = "vault_data_keys"
    # One active key per purpose: created lazily, and two racing creators settle on the same row.
    __table_args__ = (
        Index(
            "uq_vault_data_keys_active",
            "tenant_id",
            "purpose",
            unique=True,
            postgresql_where=text("retired_at IS NULL"),
            sqlite_where=text("retired_at IS NULL"),
        ),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    purpose: Mapped[KeyPurpose] = mapped_column(str_enum(KeyPurpose, 20))
    #: The key, sealed by the KMS with context `vault.data_key:<tenant>:<purpose>:<id>`.
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    #: Hex id of the master key that wrapped it: what `kassa keys rotate` looks for.
    kms_key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
    #: When it was last re-wrapped under a new master key; null if never.
    rotated_at: Mapped[datetime | None]
    #: When a newer generation replaced it: it seals nothing more and opens only what it sealed before.
    retired_at: Mapped[datetime | None]


class VaultCard(TenantScoped, Base):
    """A card token (`tok_…`). The PAN exists only inside `pan_encrypted`; the CVC is never here."""

    __tablename__ = "vault_cards"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "data_key_id"], ["vault_data_keys.tenant_id", "vault_data_keys.id"]
        ),
        # Risk screening counts payments per card fingerprint.
        Index("ix_vault_cards_tenant_id_fingerprint", "tenant_id", "fingerprint"),
        # Re-encryption finds the cards under a retired key; deleting that key checks none is left.
        Index("ix_vault_cards_data_key", "tenant_id", "data_key_id"),
        # The retention purge looks only at cards that still hold a number.
        Index(
            "ix_vault_cards_unpurged",
            "tenant_id",
            "created_at",
            postgresql_where=text("pan_encrypted IS NOT NULL"),
            sqlite_where=text("pan_encrypted IS NOT NULL"),
        ),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: The tenant's `card` data key that sealed `pan_encrypted`; null once purged.
    data_key_id: Mapped[str | None] = mapped_column(String(40))
    #: AES-256-GCM of JSON {pan, exp_month, exp_year}; associated data binds it to tenant and token id.
    #: Null once the retention policy purged it (core/vault/lifetimes.py).
    pan_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Hex HMAC-SHA256 of the PAN under the tenant's fingerprint key: same card, same value (per tenant).
    fingerprint: Mapped[str] = mapped_column(String(64))
    brand: Mapped[CardBrand] = mapped_column(str_enum(CardBrand, 20))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    #: ISO 3166-1 alpha-2 country of the issuing bank, from the BIN; null when unknown.
    bin_country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[Timestamp]
    #: When the retention policy erased the number; brand, last four, expiry and fingerprint stay.
    purged_at: Mapped[datetime | None]
