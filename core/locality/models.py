"""A tenant's locality rule: what its checkout offers and asks for shoppers of one country (or all)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import JSON_TYPE, Base, IdStr, JsonList, TenantScoped, Timestamp, UTCDateTime

#: The `country` of the rule that applies to every country (a country's own rule wins field by field).
ALL_COUNTRIES = "*"


class LocalityRule(TenantScoped, Base):
    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "locality_rule"

    __tablename__ = "locality_rules"
    __table_args__ = (UniqueConstraint("tenant_id", "livemode", "country"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: The mode whose checkouts it governs: a test key makes and sees test rules only, a live key live ones.
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ISO 3166 alpha-2, or "*" for every country.
    country: Mapped[str] = mapped_column(String(2))
    #: Every field below: null means "not set here" (the next rule, then Kassa's defaults decide).
    #: Methods offered to these shoppers, in display order.
    methods: Mapped[list[str] | None] = mapped_column(JSON_TYPE)
    #: [{"currency": "EUR", "min": 100, "max": 500000}, …]: inclusive, minor units, either end optional.
    amount_limits: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON_TYPE)
    #: [{"method": "wallet", "currency": "EUR", "max": 10000}, …]: a method is offered only for amounts
    #: inside its limits (inclusive, minor units, either end optional); the rest of the checkout stays.
    method_limits: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON_TYPE)
    #: Extra card fields to ask for ("postal_code").
    required_fields: Mapped[list[str] | None] = mapped_column(JSON_TYPE)
    #: Card surcharge in basis points (refused where the law forbids surcharges).
    surcharge_bps: Mapped[int | None] = mapped_column(Integer)
    #: "automatic" (the issuer decides; frictionless where it can) or "required" (every card is challenged).
    three_ds: Mapped[str | None] = mapped_column(String(10))
    #: Checkout language when the session names none and the browser asks for none Kassa has.
    default_language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class LocalityRuleVersion(TenantScoped, Base):
    """One version of a tenant's whole rule set in one mode: a draft (no `effective_at`), a change
    scheduled for a future moment, or a version that was (or is) in force. The version in force at a
    moment is the one with the latest `effective_at` at or before it (core/locality/versions.py)."""

    #: What audit events about it name as their subject type.
    __subject__: ClassVar[str] = "locality_rule_version"

    __tablename__ = "locality_rule_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "livemode", "number"),
        Index("ix_locality_rule_versions_effective", "tenant_id", "livemode", "effective_at"),
    )

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    #: 1, 2, 3, … per tenant and mode, in the order versions were made (drafts included).
    number: Mapped[int] = mapped_column(Integer)
    #: The rules, one object per country (or "*"), each with its `id` and every field of a LocalityRule.
    rules: Mapped[JsonList]
    #: When it takes (or took) effect; null: a draft, which governs nothing.
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The version whose rules this one restored, if it is a restore.
    restored_from: Mapped[str | None] = mapped_column(String(40))
    #: A line for the history ("Wallet off above €100 in DE").
    note: Mapped[str | None] = mapped_column(String(200))
    #: Who made it, as the audit trail names actors ("user:usr_…", "api_key:key_…").
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
