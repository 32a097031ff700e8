"""Locality rules: what a checkout offers and asks for, by the shopper's country.

The hosted page reads them through `rules_for()` only. Today the rules are Kassa's built-in defaults;
the per-tenant rules editor (portal) will store overrides that this function merges in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: Countries whose card issuers check the billing postal code (AVS).
POSTAL_CODE_COUNTRIES: Final = frozenset({"US", "CA", "GB"})
#: Countries where strong customer authentication (3DS) is the rule for card payments.
SCA_COUNTRIES: Final = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "GB",
        "NO",
        "IS",
        "LI",
    }
)
#: Countries that forbid card surcharges on consumer payments (EU PSD2, and others).
NO_SURCHARGE_COUNTRIES: Final = SCA_COUNTRIES
DEFAULT_LANGUAGE: Final = {
    "DE": "de",
    "AT": "de",
    "CH": "de",
    "FR": "fr",
    "BE": "fr",
    "LU": "fr",
    "ES": "es",
    "MX": "es",
    "AR": "es",
    "CO": "es",
    "NL": "nl",
}
#: Sandbox online-banking choices by country (a real deployment lists the acquirer's banks).
BANKS: Final = {
    "NL": ("ABN AMRO", "ING", "Rabobank", "SNS", "bunq"),
    "DE": ("Deutsche Bank", "Commerzbank", "Sparkasse", "DKB", "N26"),
    "BE": ("BNP Paribas Fortis", "KBC", "Belfius", "ING Belgium"),
    "AT": ("Erste Bank", "Raiffeisen", "Bank Austria"),
    "FR": ("BNP Paribas", "Crédit Agricole", "Société Générale", "La Banque Postale"),
    "ES": ("Santander", "BBVA", "CaixaBank", "Sabadell"),
    "GB": ("Barclays", "HSBC", "Lloyds", "NatWest", "Monzo"),
}
DEFAULT_BANKS: Final = ("Sandbox Bank", "Test Savings Bank")


@dataclass(frozen=True)
class LocalityRules:
    country: str
    #: Methods offered, in display order.
    methods: tuple[str, ...]
    #: Inclusive amount limits in minor units (None: no limit).
    min_amount: int | None = None
    max_amount: int | None = None
    #: Extra card fields to ask for ("postal_code").
    required_fields: frozenset[str] = field(default_factory=frozenset)
    #: Card surcharge in basis points where the law allows one (0: none).
    surcharge_bps: int = 0
    three_ds_required: bool = False
    default_language: str = "en"
    banks: tuple[str, ...] = DEFAULT_BANKS

    def allows(self, amount: int) -> bool:
        return (self.min_amount is None or amount >= self.min_amount) and (
            self.max_amount is None or amount <= self.max_amount
        )


def rules_for(
    *, country: str, amount: int, currency: str, methods: tuple[str, ...] | list[str]
) -> LocalityRules:
    """The rules for a shopper in `country` paying `amount` `currency` with the session's `methods`."""
    return LocalityRules(
        country=country,
        methods=tuple(methods),
        required_fields=frozenset({"postal_code"}) if country in POSTAL_CODE_COUNTRIES else frozenset(),
        surcharge_bps=0,
        three_ds_required=country in SCA_COUNTRIES,
        default_language=DEFAULT_LANGUAGE.get(country, "en"),
        banks=BANKS.get(country, DEFAULT_BANKS),
    )
