"""Per-tenant risk thresholds and block lists (screening rules: core/risk/service.py)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Final

from sqlalchemy import JSON, BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, TenantScoped, Timestamp, str_enum

#: The one settings row per tenant.
SETTINGS_ID: Final = "default"

#: Thresholds a tenant gets until it changes them. Amounts are minor units; 0 switches a rule off.
DEFAULT_SETTINGS: Final[dict[str, Any]] = {
    "max_amount": 1_000_000,
    "review_amount": 500_000,
    "max_attempts_per_card_hour": 10,
    "max_attempts_per_email_hour": 10,
    "max_attempts_per_ip_hour": 20,
    "max_declines_per_session": 5,
    "max_declines_per_ip_hour": 10,
    "max_declines_per_card_hour": 5,
    "blocked_countries": [],
}


class BlockKind(StrEnum):
    EMAIL = "email"
    IP = "ip"
    #: A card, by the vault's fingerprint.
    CARD = "card"
    #: The card's leading 6-8 digits (issuer identification number).
    BIN = "bin"
    #: The card's issuing country (ISO 3166-1 alpha-2).
    COUNTRY = "country"


class RiskSettings(TenantScoped, Base):
    """A tenant's screening thresholds. Absent row: DEFAULT_SETTINGS. 0 switches a rule off."""

    __tablename__ = "risk_settings"

    #: Always SETTINGS_ID: one row per tenant.
    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=SETTINGS_ID)
    #: A payment above this amount (minor units, any currency) is blocked.
    max_amount: Mapped[int] = mapped_column(BigInteger)
    #: A payment of at least this amount (minor units) is flagged for review.
    review_amount: Mapped[int] = mapped_column(BigInteger)
    #: Velocity: attempts per hour beyond these are blocked (per card fingerprint, email, IP).
    max_attempts_per_card_hour: Mapped[int] = mapped_column(Integer)
    max_attempts_per_email_hour: Mapped[int] = mapped_column(Integer)
    max_attempts_per_ip_hour: Mapped[int] = mapped_column(Integer)
    #: Card testing: once this many declines were seen (per checkout session, per IP or card per hour),
    #: further attempts are blocked.
    max_declines_per_session: Mapped[int] = mapped_column(Integer)
    max_declines_per_ip_hour: Mapped[int] = mapped_column(Integer)
    max_declines_per_card_hour: Mapped[int] = mapped_column(Integer)
    #: Card-issuing countries (ISO 3166-1 alpha-2) whose cards are blocked.
    blocked_countries: Mapped[list[str]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))


class RiskBlock(TenantScoped, Base):
    """One block-list entry: a payment matching it is blocked."""

    __tablename__ = "risk_block_list"
    __subject__: ClassVar[str] = "risk_block"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "value"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    kind: Mapped[BlockKind] = mapped_column(str_enum(BlockKind, 10))
    #: email/ip/card: SHA-256 hex of the normalized value (lower-cased email, canonical IP, fingerprint),
    #: so the list holds no personal data in the clear; bin/country: the value itself.
    value: Mapped[str] = mapped_column(String(64))
    #: The merchant's own words on why (shown in the portal, since hashed values are not readable).
    note: Mapped[str | None] = mapped_column(String(500))
    #: Who added the entry, as the audit trail names actors ("user", "api_key", ...) and their id; null
    #: for entries added before this was kept, or by a caller that named no actor.
    created_by_type: Mapped[str | None] = mapped_column(String(20))
    created_by_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[Timestamp]

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "value": self.value,
            "note": self.note,
            "created_by": {"type": self.created_by_type, "id": self.created_by_id}
            if self.created_by_id
            else None,
            "created_at": self.created_at.isoformat(),
        }
