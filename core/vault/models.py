"""Vault tables: card tokens, sealed under a tenant data key (core/keys)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKeyConstraint, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, TenantScoped, Timestamp, str_enum
from core.keys.models import DataKey as DataKey
from core.keys.models import KeyPurpose as KeyPurpose


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
