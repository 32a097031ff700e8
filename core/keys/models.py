"""Per-tenant data keys (wrapped by the KMS): what the vault seals cards with and audit seals details with.

Below both core.vault and core.audit (the table keeps its name, `vault_data_keys`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, TenantScoped, Timestamp, str_enum


class KeyPurpose(StrEnum):
    #: Seals card numbers and expiry dates (`vault_cards.pan_encrypted`).
    CARD = "card"
    #: HMAC key of card fingerprints. Never replaced (only re-wrapped), so fingerprints stay stable.
    FINGERPRINT = "fingerprint"
    #: Seals audit event details.
    AUDIT = "audit"


class DataKey(TenantScoped, Base):
    """A random 256-bit key of a tenant and purpose, stored only wrapped (encrypted) by the KMS.

    A purpose may have several generations: the one not retired seals, every one still present opens
    what it sealed (`kassa keys rotate --data-keys`, core/vault/lifetimes.py).
    """

    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "data_key"

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
