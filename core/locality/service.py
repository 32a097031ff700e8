"""Locality rules: what a checkout offers and asks for, by the shopper's country.

Three layers decide, field by field, the more specific winning: Kassa's built-in defaults (postal code
for US, CA and GB cards, a country's bank list, English), then the tenant's rule for every
country ("*"), then its rule for the shopper's country. The hosted page and the payment service read the
result through `rules_for()` only, so what the page shows and what the server enforces cannot differ.

Rules are per mode: a test key makes, sees and changes test-mode rules, which govern test-mode checkouts
only; live checkouts read live rules, which only a live key can change. A test key can never add a
surcharge (or lift a limit) on live payments.

3-D Secure: the built-in default is "automatic" everywhere, Strong Customer Authentication countries
included. The issuer decides, and the sandbox models a frictionless flow for every card except its
challenge card, which keeps the contract's "4242 4242 4242 4242 → succeeded" true in every country. A
tenant that wants every card challenged in a country says `"three_ds": "required"` in its rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import money
from core.audit import actions
from core.audit import service as audit
from core.context import Context
from core.db import get_by_id
from core.errors import Conflict, InvalidInput, NotFound
from core.geo import CHECKOUT_LOCALES, validate_country
from core.ids import new_id
from core.locality.models import ALL_COUNTRIES, LocalityRule

METHODS: Final = ("card", "wallet", "bank")
#: Extra fields a rule may ask for: the billing postal code (card AVS) and the shopper's email.
REQUIRED_FIELDS: Final = frozenset({"postal_code", "email"})
THREE_DS: Final = ("automatic", "required")
#: Card networks cap surcharges at 3% where they are allowed at all.
MAX_SURCHARGE_BPS: Final = 300
FIELDS: Final = frozenset(
    {
        "country",
        "methods",
        "amount_limits",
        "required_fields",
        "surcharge_bps",
        "three_ds",
        "default_language",
    }
)

#: Countries whose card issuers check the billing postal code (AVS).
POSTAL_CODE_COUNTRIES: Final = frozenset({"US", "CA", "GB"})
#: EU/EEA countries and the UK: Strong Customer Authentication applies, and surcharges on consumer cards
#: are forbidden (PSD2 art. 62(4); the UK's Consumer Rights (Payment Surcharges) Regulations 2012).
SCA_COUNTRIES: Final = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE"),
        *("IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "GB", "NO", "IS", "LI"),
    }
)
NO_SURCHARGE_COUNTRIES: Final = SCA_COUNTRIES
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
    """The rules in force for one checkout: shopper's country, the session's currency and methods."""

    country: str
    currency: str
    #: Methods offered, in the session's order (empty: nothing may be offered to this country).
    methods: tuple[str, ...]
    #: Inclusive amount limits in minor units of `currency` (None: no limit).
    min_amount: int | None = None
    max_amount: int | None = None
    #: Extra fields to ask for ("postal_code", "email").
    required_fields: frozenset[str] = field(default_factory=frozenset)
    #: Card surcharge in basis points (0 where none is set or the law forbids one).
    surcharge_bps: int = 0
    three_ds_required: bool = False
    default_language: str = "en"
    banks: tuple[str, ...] = DEFAULT_BANKS

    def allows(self, amount: int) -> bool:
        return (self.min_amount is None or amount >= self.min_amount) and (
            self.max_amount is None or amount <= self.max_amount
        )

    def problem(self, amount: int) -> str | None:
        """Why this checkout can't be paid here, as a code ("no_method", "amount_too_small",
        "amount_too_large"); None when it can."""
        if not self.methods:
            return "no_method"
        if self.min_amount is not None and amount < self.min_amount:
            return "amount_too_small"
        if self.max_amount is not None and amount > self.max_amount:
            return "amount_too_large"
        return None

    def refusal(self, amount: int) -> str | None:
        """The problem in words for the merchant (the hosted page words it for the shopper, translated)."""
        problem = self.problem(amount)
        if problem == "no_method":
            return (
                f"None of this checkout's payment methods is offered to shoppers in {self.country} "
                "by your locality rules."
            )
        if problem == "amount_too_small":
            least = money.format_amount(self.min_amount or 0, self.currency)
            return f"Your locality rules ask for at least {least} from shoppers in {self.country}."
        if problem == "amount_too_large":
            most = money.format_amount(self.max_amount or 0, self.currency)
            return f"Your locality rules allow at most {most} from shoppers in {self.country}."
        return None

    def surcharge_on(self, amount: int, method: str) -> int:
        """The surcharge in minor units for paying `amount` by `method` (cards only), rounded half up."""
        if method != "card" or not self.surcharge_bps:
            return 0
        exact = Decimal(amount) * self.surcharge_bps / Decimal(10_000)
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _builtin(country: str) -> dict[str, Any]:
    return {
        "required_fields": ["postal_code"] if country in POSTAL_CODE_COUNTRIES else [],
        "surcharge_bps": 0,
        "three_ds": "automatic",
        # English unless the tenant names a language: a shopper whose browser asks for a language the
        # checkout lacks reads English more often than the shop country's language.
        "default_language": "en",
    }


def _limits_for(rules: Iterable[LocalityRule], currency: str) -> dict[str, Any]:
    """The most specific rule's limits for this currency (a rule without an entry for it says nothing)."""
    chosen: dict[str, Any] = {}
    for rule in rules:
        for entry in rule.amount_limits or ():
            if entry.get("currency") == currency:
                chosen = entry
    return chosen


def rules_for(
    session: Session, *, livemode: bool, country: str, currency: str, methods: Sequence[str]
) -> LocalityRules:
    """The rules for a shopper in `country` paying in `currency` with the session's `methods`, in the
    session's mode (`livemode`). They are returned, not judged: `LocalityRules.problem(amount)` says
    whether an amount may be paid.

    Reads the current tenant's rules (the session is tenant-bound): one indexed query of at most two rows.
    """
    stored = session.scalars(
        select(LocalityRule).where(
            LocalityRule.livemode == livemode, LocalityRule.country.in_((ALL_COUNTRIES, country))
        )
    ).all()
    # "*" first, then the country's own rule, so later layers win.
    layers = sorted(stored, key=lambda rule: rule.country != ALL_COUNTRIES)
    merged = _builtin(country)
    allowed: Sequence[str] = METHODS
    for rule in layers:
        for name in ("required_fields", "surcharge_bps", "three_ds", "default_language"):
            value = getattr(rule, name)
            if value is not None:
                merged[name] = value
        if rule.methods is not None:
            allowed = rule.methods
    limits = _limits_for(layers, currency)
    surcharge = 0 if country in NO_SURCHARGE_COUNTRIES else int(merged["surcharge_bps"])
    return LocalityRules(
        country=country,
        currency=currency,
        methods=tuple(method for method in methods if method in allowed),
        min_amount=limits.get("min"),
        max_amount=limits.get("max"),
        required_fields=frozenset(merged["required_fields"]),
        surcharge_bps=surcharge,
        three_ds_required=merged["three_ds"] == "required",
        default_language=merged["default_language"],
        banks=BANKS.get(country, DEFAULT_BANKS),
    )


# --- the tenant's rules: validation, create, change, delete --------------------------------------------


def serialize(rule: LocalityRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "object": "locality_rule",
        "country": rule.country,
        "livemode": rule.livemode,
        "methods": rule.methods,
        "amount_limits": rule.amount_limits,
        "required_fields": rule.required_fields,
        "surcharge_bps": rule.surcharge_bps,
        "three_ds": rule.three_ds,
        "default_language": rule.default_language,
        "created_at": int(rule.created_at.timestamp()),
        "updated_at": int(rule.updated_at.timestamp()),
    }


def serialize_in_force(rules: LocalityRules) -> dict[str, Any]:
    """The merged rules as the API shows them (`GET /api/v1/checkout/locality_rules`)."""
    return {
        "object": "locality_rules.in_force",
        "country": rules.country,
        "currency": rules.currency,
        "methods": list(rules.methods),
        "min_amount": rules.min_amount,
        "max_amount": rules.max_amount,
        "required_fields": sorted(rules.required_fields),
        "surcharge_bps": rules.surcharge_bps,
        "three_ds": "required" if rules.three_ds_required else "automatic",
        "default_language": rules.default_language,
        "banks": list(rules.banks),
    }


def _country(value: object) -> str:
    if value == ALL_COUNTRIES:
        return ALL_COUNTRIES
    return validate_country(value)


def _string_list(value: object, *, param: str, allowed: Iterable[str], allow_empty: bool) -> list[str] | None:
    choices = sorted(allowed)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput(f"{param} must be a list drawn from {', '.join(choices)}.", param=param)
    if not value and not allow_empty:
        raise InvalidInput(f"{param} must name at least one of {', '.join(choices)}.", param=param)
    unknown = [item for item in value if item not in choices]
    if unknown:
        raise InvalidInput(f"{unknown[0]!r} is not one of {', '.join(choices)}.", param=param)
    if len(set(value)) != len(value):
        raise InvalidInput(f"{param} names an entry twice.", param=param)
    return list(value)


def _amount_limits(value: object) -> list[dict[str, Any]] | None:
    param = "amount_limits"
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput(
            'amount_limits must be a list like [{"currency": "EUR", "min": 100}].', param=param
        )
    limits: list[dict[str, Any]] = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) - {"currency", "min", "max"} or "currency" not in entry:
            raise InvalidInput(
                'Each amount limit is {"currency": …, "min": …, "max": …} (min or max may be left out).',
                param=param,
            )
        currency = money.validate_currency(entry["currency"], param=param)
        if any(existing["currency"] == currency for existing in limits):
            raise InvalidInput(f"amount_limits names {currency} twice.", param=param)
        bounds = {
            end: money.validate_amount(entry[end], currency, param=f"{param}.{end}")
            for end in ("min", "max")
            if entry.get(end) is not None
        }
        if not bounds:
            raise InvalidInput(f"The {currency} limit needs a min, a max or both.", param=param)
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise InvalidInput(f"The {currency} min is above its max.", param=param)
        limits.append({"currency": currency, **bounds})
    return limits


def _surcharge(value: object, *, country: str) -> int | None:
    param = "surcharge_bps"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SURCHARGE_BPS:
        raise InvalidInput(
            f"surcharge_bps must be a whole number of basis points from 0 to {MAX_SURCHARGE_BPS} (3%).",
            param=param,
        )
    if value and country in NO_SURCHARGE_COUNTRIES:
        raise InvalidInput(
            f"Card surcharges on consumer payments are not allowed in {country} (EU PSD2 / UK rules); "
            "leave surcharge_bps out or set it to 0.",
            param=param,
        )
    return value


def _choice(value: object, *, param: str, choices: Sequence[str]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        raise InvalidInput(f"{param} must be one of {', '.join(choices)} (or null).", param=param)
    return str(value)


def _apply(rule: LocalityRule, data: dict[str, Any]) -> None:
    """Validate and set the given fields (null clears a field: the next layer decides again)."""
    setters: dict[str, Callable[[object], object]] = {
        "methods": lambda v: _string_list(v, param="methods", allowed=METHODS, allow_empty=False),
        "amount_limits": _amount_limits,
        "required_fields": lambda v: _string_list(
            v, param="required_fields", allowed=REQUIRED_FIELDS, allow_empty=True
        ),
        "surcharge_bps": lambda v: _surcharge(v, country=rule.country),
        "three_ds": lambda v: _choice(v, param="three_ds", choices=THREE_DS),
        "default_language": lambda v: _choice(v, param="default_language", choices=CHECKOUT_LOCALES),
    }
    for name, setter in setters.items():
        if name in data:
            setattr(rule, name, setter(data[name]))


def _unknown(data: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(f"Unknown field {unknown[0]!r}.", param=unknown[0])


def _audit(session: Session, ctx: Context, rule: LocalityRule, action: str) -> None:
    audit.record(session, ctx, action, subject=rule, details=serialize(rule))


def get(session: Session, *, livemode: bool, rule_id: str, lock: bool = False) -> LocalityRule:
    """A rule of the current tenant in this mode: another mode's rule is not found, like another tenant's."""
    rule = get_by_id(session, LocalityRule, rule_id, prefix="lrule", what="locality rule", lock=lock)
    if rule.livemode != livemode:
        raise NotFound(f"No such locality rule: {rule_id!r}.", param="id")
    return rule


def create(
    session: Session, ctx: Context, *, tenant_id: str, livemode: bool, data: dict[str, Any]
) -> LocalityRule:
    _unknown(data, FIELDS)
    if "country" not in data:
        raise InvalidInput(
            'country is required: an ISO country code like "DE", or "*" for all.', param="country"
        )
    country = _country(data["country"])
    existing = session.scalar(
        select(LocalityRule).where(LocalityRule.livemode == livemode, LocalityRule.country == country)
    )
    if existing is not None:
        raise Conflict(
            f"A rule for {country} exists ({existing.id}); change it with "
            f"PATCH /api/v1/locality_rules/{existing.id}.",
            param="country",
        )
    now = ctx.clock.now()
    rule = LocalityRule(
        tenant_id=tenant_id,
        id=new_id("lrule"),
        livemode=livemode,
        country=country,
        created_at=now,
        updated_at=now,
    )
    _apply(rule, data)
    session.add(rule)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"A rule for {country} was just made by another request.", param="country") from None
    _audit(session, ctx, rule, actions.LOCALITY_RULE_CREATED)
    return rule


def update(
    session: Session, ctx: Context, *, livemode: bool, rule_id: str, changes: dict[str, Any]
) -> LocalityRule:
    _unknown(changes, FIELDS - {"country"})
    rule = get(session, livemode=livemode, rule_id=rule_id, lock=True)
    _apply(rule, changes)
    rule.updated_at = ctx.clock.now()
    session.flush()
    _audit(session, ctx, rule, actions.LOCALITY_RULE_UPDATED)
    return rule


def delete(session: Session, ctx: Context, *, livemode: bool, rule_id: str) -> LocalityRule:
    rule = get(session, livemode=livemode, rule_id=rule_id, lock=True)
    _audit(session, ctx, rule, actions.LOCALITY_RULE_DELETED)
    session.delete(rule)
    session.flush()
    return rule
