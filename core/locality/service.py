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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import money
from core.audit import actions
from core.audit import service as audit
from core.context import Context
from core.db import cached, get_by_id
from core.errors import Conflict, InvalidInput, NotFound
from core.geo import CHECKOUT_LOCALES, validate_country
from core.ids import new_id
from core.locality.models import ALL_COUNTRIES, LocalityRule, LocalityRuleVersion

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
        "method_limits",
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
    #: Methods the session has that a method limit withholds at the checkout's amount: (method, min, max).
    withheld: tuple[tuple[str, int | None, int | None], ...] = ()

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


#: The rule fields a stored rule (a row or a version's entry) carries, as plain values.
RULE_FIELDS: Final = (
    "methods",
    "amount_limits",
    "method_limits",
    "required_fields",
    "surcharge_bps",
    "three_ds",
    "default_language",
)
Layer = Mapping[str, Any]


def _limits_for(layers: Iterable[Layer], currency: str) -> dict[str, Any]:
    """The most specific rule's limits for this currency (a rule without an entry for it says nothing)."""
    chosen: dict[str, Any] = {}
    for layer in layers:
        for entry in layer.get("amount_limits") or ():
            if entry.get("currency") == currency:
                chosen = entry
    return chosen


def _method_limits_for(layers: Iterable[Layer], currency: str) -> dict[str, dict[str, Any]]:
    """Per method, the most specific rule's limit for this currency."""
    chosen: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for entry in layer.get("method_limits") or ():
            if entry.get("currency") == currency:
                chosen[str(entry.get("method"))] = entry
    return chosen


def resolve(
    stored: Iterable[Layer],
    *,
    country: str,
    currency: str,
    methods: Sequence[str],
    amount: int | None = None,
) -> LocalityRules:
    """THE decision: what a checkout for a shopper in `country` paying `amount` in `currency` offers and
    asks, from a rule set (`stored`: rules as mappings, any countries; the "*" rule and `country`'s apply).
    The hosted page (through `rules_for`), the payment service, the editor's preview and the dry run all
    decide through this function, so none can disagree with another.

    With `amount`, a method whose method limit excludes the amount is withheld (listed in `withheld`)."""
    applying = [layer for layer in stored if layer.get("country") in (ALL_COUNTRIES, country)]
    # "*" first, then the country's own rule, so later layers win.
    layers = sorted(applying, key=lambda layer: layer.get("country") != ALL_COUNTRIES)
    merged = _builtin(country)
    allowed: Sequence[str] = METHODS
    for layer in layers:
        for name in ("required_fields", "surcharge_bps", "three_ds", "default_language"):
            value = layer.get(name)
            if value is not None:
                merged[name] = value
        if layer.get("methods") is not None:
            allowed = layer["methods"]
    limits = _limits_for(layers, currency)
    offered = [method for method in methods if method in allowed]
    withheld: list[tuple[str, int | None, int | None]] = []
    if amount is not None:
        per_method = _method_limits_for(layers, currency)
        for method in list(offered):
            entry = per_method.get(method)
            if entry is None:
                continue
            low, high = entry.get("min"), entry.get("max")
            if (low is not None and amount < low) or (high is not None and amount > high):
                offered.remove(method)
                withheld.append((method, low, high))
    surcharge = 0 if country in NO_SURCHARGE_COUNTRIES else int(merged["surcharge_bps"])
    return LocalityRules(
        country=country,
        currency=currency,
        methods=tuple(offered),
        min_amount=limits.get("min"),
        max_amount=limits.get("max"),
        required_fields=frozenset(merged["required_fields"]),
        surcharge_bps=surcharge,
        three_ds_required=merged["three_ds"] == "required",
        default_language=merged["default_language"],
        banks=BANKS.get(country, DEFAULT_BANKS),
        withheld=tuple(withheld),
    )


def as_layer(rule: LocalityRule) -> dict[str, Any]:
    """A stored rule row as the plain mapping `resolve` and a version's `rules` hold."""
    return {
        "id": rule.id,
        "country": rule.country,
        **{name: getattr(rule, name) for name in RULE_FIELDS},
        "created_at": int(rule.created_at.timestamp()),
        "updated_at": int(rule.updated_at.timestamp()),
    }


def in_force_at(session: Session, *, livemode: bool, at: datetime) -> LocalityRuleVersion | None:
    """The current tenant's version in force at `at` in this mode: the latest `effective_at` at or before
    it (the later-made one if two share a moment); None before its first version."""
    return session.scalar(
        select(LocalityRuleVersion)
        .where(
            LocalityRuleVersion.livemode == livemode,
            LocalityRuleVersion.effective_at.is_not(None),
            LocalityRuleVersion.effective_at <= at,
        )
        .order_by(LocalityRuleVersion.effective_at.desc(), LocalityRuleVersion.number.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class InForce:
    """The rules in force over a span of time: from the version's `effective_at` (None: before the
    tenant's first version) until the next scheduled version's (None: none is scheduled)."""

    layers: tuple[Layer, ...]
    start: datetime | None
    end: datetime | None

    def covers(self, at: datetime) -> bool:
        return (self.start is None or self.start <= at) and (self.end is None or at < self.end)


def in_force_window(session: Session, *, livemode: bool, at: datetime) -> InForce:
    """The rules in force at `at`, kept in this process until the tenant's rules change
    (core/tenant_cache.py) or a scheduled version's moment comes: a page costs no query for them then."""

    def load() -> InForce:
        version = in_force_at(session, livemode=livemode, at=at)
        end = session.scalar(
            select(func.min(LocalityRuleVersion.effective_at)).where(
                LocalityRuleVersion.livemode == livemode, LocalityRuleVersion.effective_at > at
            )
        )
        if version is None:
            return InForce(layers=(), start=None, end=end)
        return InForce(layers=tuple(version.rules), start=version.effective_at, end=end)

    return cached(session, "locality", livemode, load, usable=lambda kept: kept.covers(at))


def table_layers(session: Session, *, livemode: bool, countries: Sequence[str] | None = None) -> list[Layer]:
    """The rules of `locality_rules` (what the API's rule routes change), as layers."""
    query = select(LocalityRule).where(LocalityRule.livemode == livemode)
    if countries is not None:
        query = query.where(LocalityRule.country.in_(countries))
    return [as_layer(rule) for rule in session.scalars(query.order_by(LocalityRule.country))]


def rules_for(
    session: Session,
    *,
    livemode: bool,
    country: str,
    currency: str,
    methods: Sequence[str],
    at: datetime | None = None,
    amount: int | None = None,
) -> LocalityRules:
    """The rules for a shopper in `country` paying in `currency` with the session's `methods`, in the
    session's mode (`livemode`), as in force at `at` (the request's clock: the hosted page passes
    `ctx.clock.now()`). They are returned, not judged: `LocalityRules.problem(amount)` says whether an
    amount may be paid; with `amount`, methods its method limits exclude are left out.

    Reads the current tenant's rules (the session is tenant-bound): one indexed query for the version
    in force (without `at`: the rule rows as they stand, at most two)."""
    if at is not None:
        # Every rule change writes a version (and the migration made version 1 of the rules before
        # versions): before a tenant's first version there are no rules, only the defaults.
        layers = in_force_window(session, livemode=livemode, at=at).layers
        return resolve(layers, country=country, currency=currency, methods=methods, amount=amount)
    stored = table_layers(session, livemode=livemode, countries=(ALL_COUNTRIES, country))
    return resolve(stored, country=country, currency=currency, methods=methods, amount=amount)


# --- the tenant's rules: validation, create, change, delete --------------------------------------------


def serialize(rule: LocalityRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "object": "locality_rule",
        "country": rule.country,
        "livemode": rule.livemode,
        "methods": rule.methods,
        "amount_limits": rule.amount_limits,
        "method_limits": rule.method_limits,
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


def _method_limits(value: object) -> list[dict[str, Any]] | None:
    param = "method_limits"
    if value is None:
        return None
    shape = 'method_limits must be a list like [{"method": "wallet", "currency": "EUR", "max": 10000}].'
    if not isinstance(value, list):
        raise InvalidInput(shape, param=param)
    limits: list[dict[str, Any]] = []
    for entry in value:
        if (
            not isinstance(entry, dict)
            or set(entry) - {"method", "currency", "min", "max"}
            or not {"method", "currency"} <= set(entry)
        ):
            raise InvalidInput(shape, param=param)
        method = entry["method"]
        if method not in METHODS:
            raise InvalidInput(f"{method!r} is not one of {', '.join(METHODS)}.", param=param)
        currency = money.validate_currency(entry["currency"], param=param)
        if any(e["method"] == method and e["currency"] == currency for e in limits):
            raise InvalidInput(f"method_limits names {method} in {currency} twice.", param=param)
        bounds = {
            end: money.validate_amount(entry[end], currency, param=f"{param}.{end}")
            for end in ("min", "max")
            if entry.get(end) is not None
        }
        if not bounds:
            raise InvalidInput(f"The {method} limit in {currency} needs a min, a max or both.", param=param)
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise InvalidInput(f"The {method} min in {currency} is above its max.", param=param)
        limits.append({"method": method, "currency": currency, **bounds})
    return limits


def surcharge_reason(country: str) -> str | None:
    """Why a surcharge is refused for `country`, in words for people (None where the law allows one)."""
    if country in NO_SURCHARGE_COUNTRIES:
        return f"Card surcharges on consumer payments are not allowed in {country} (EU PSD2 / UK rules)"
    return None


def surcharge_refusal(country: str) -> str | None:
    """The API's refusal of a surcharge for `country`: the reason and what to send instead."""
    reason = surcharge_reason(country)
    return None if reason is None else f"{reason}; leave surcharge_bps out or set it to 0."


def surcharge_countries_text() -> str:
    return ", ".join(sorted(NO_SURCHARGE_COUNTRIES))


def _surcharge(value: object, *, country: str) -> int | None:
    param = "surcharge_bps"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SURCHARGE_BPS:
        raise InvalidInput(
            f"surcharge_bps must be a whole number of basis points from 0 to {MAX_SURCHARGE_BPS} (3%).",
            param=param,
        )
    refusal = surcharge_refusal(country)
    if value and refusal:
        raise InvalidInput(refusal, param=param)
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
        "method_limits": _method_limits,
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


def validate_rule(
    data: Mapping[str, Any], *, now: datetime, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One rule of a version, checked as the API's rule routes check a rule: `data` holds `country` and
    any rule field (null or absent: not set here). `base` is the entry it replaces (its id and
    created_at are kept). Raises InvalidInput naming the field."""
    _unknown(dict(data), FIELDS | {"id", "created_at", "updated_at"})
    if "country" not in data:
        raise InvalidInput(
            'country is required: an ISO country code like "DE", or "*" for all.', param="country"
        )
    country = _country(data["country"])
    # A transient row, never added to the session: the one place rule fields are validated.
    probe = LocalityRule(country=country)
    _apply(probe, {name: data.get(name) for name in RULE_FIELDS})
    stamp = int(now.timestamp())
    return {
        "id": (base or {}).get("id") or new_id("lrule"),
        "country": country,
        **{name: getattr(probe, name) for name in RULE_FIELDS},
        "created_at": (base or {}).get("created_at") or stamp,
        "updated_at": stamp,
    }


def sync_table(session: Session, *, tenant_id: str, livemode: bool, layers: Sequence[Layer]) -> None:
    """Make the rule rows say what `layers` (a version's rules) say, ids kept: the API's rule routes then
    show, and change, the rules in force."""
    rows = {
        rule.country: rule
        for rule in session.scalars(select(LocalityRule).where(LocalityRule.livemode == livemode))
    }
    wanted = {str(layer["country"]): layer for layer in layers}
    for country, row in list(rows.items()):
        if country not in wanted or wanted[country].get("id") != row.id:
            session.delete(row)
            del rows[country]
    session.flush()
    for country, layer in wanted.items():
        rule = rows.get(country)
        if rule is None:
            created = datetime.fromtimestamp(int(layer.get("created_at") or 0), tz=UTC)
            rule = LocalityRule(
                tenant_id=tenant_id,
                id=str(layer.get("id") or new_id("lrule")),
                livemode=livemode,
                country=country,
                created_at=created,
                updated_at=created,
            )
            session.add(rule)
        for name in RULE_FIELDS:
            setattr(rule, name, layer.get(name))
        rule.updated_at = datetime.fromtimestamp(int(layer.get("updated_at") or 0), tz=UTC)
    session.flush()


def catch_up(session: Session, *, tenant_id: str, livemode: bool, now: datetime) -> None:
    """After a scheduled version took effect, the rule rows still hold the earlier rules: rewrite them
    to the version in force (a no-op when they agree)."""
    version = in_force_at(session, livemode=livemode, at=now)
    if version is None:
        return

    def key(layers: Iterable[Layer]) -> list[tuple[Any, ...]]:
        return sorted(
            (str(x["country"]), x.get("id"), *(repr(x.get(n)) for n in RULE_FIELDS)) for x in layers
        )

    if key(version.rules) != key(table_layers(session, livemode=livemode)):
        sync_table(session, tenant_id=tenant_id, livemode=livemode, layers=version.rules)


def next_number(session: Session, *, livemode: bool) -> int:
    last = session.scalar(
        select(LocalityRuleVersion.number)
        .where(LocalityRuleVersion.livemode == livemode)
        .order_by(LocalityRuleVersion.number.desc())
        .limit(1)
    )
    return (last or 0) + 1


def actor_name(ctx: Context) -> str:
    return f"{ctx.actor.type}:{ctx.actor.id}"[:80]


def new_version(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    livemode: bool,
    rules: Sequence[Layer],
    effective_at: datetime | None,
    note: str | None = None,
    restored_from: str | None = None,
) -> LocalityRuleVersion:
    """Add a version (unaudited: the caller audits what it did)."""
    now = ctx.clock.now()
    version = LocalityRuleVersion(
        tenant_id=tenant_id,
        id=new_id("lrver"),
        livemode=livemode,
        number=next_number(session, livemode=livemode),
        rules=[
            dict(layer)
            for layer in sorted(rules, key=lambda x: (x["country"] != ALL_COUNTRIES, x["country"]))
        ],
        effective_at=effective_at,
        restored_from=restored_from,
        note=note,
        created_by=actor_name(ctx),
        created_at=now,
        updated_at=now,
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("Another change to the locality rules was just made; try again.", param="id") from None
    return version


def _publish_rows(session: Session, ctx: Context, *, tenant_id: str, livemode: bool, note: str) -> None:
    """A change through the rule routes is a new version in force at once."""
    version = new_version(
        session,
        ctx,
        tenant_id=tenant_id,
        livemode=livemode,
        rules=table_layers(session, livemode=livemode),
        effective_at=ctx.clock.now(),
        note=note,
    )
    audit.record(
        session,
        ctx,
        actions.LOCALITY_VERSION_PUBLISHED,
        subject=version,
        details={
            "number": version.number,
            "note": note,
            "effective_at": version.effective_at.isoformat() if version.effective_at else None,
        },
    )


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
    catch_up(session, tenant_id=tenant_id, livemode=livemode, now=ctx.clock.now())
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
    _publish_rows(session, ctx, tenant_id=tenant_id, livemode=livemode, note=f"Rule for {country} created")
    return rule


def update(
    session: Session, ctx: Context, *, livemode: bool, rule_id: str, changes: dict[str, Any]
) -> LocalityRule:
    _unknown(changes, FIELDS - {"country"})
    tenant_id = _tenant_of(session)
    catch_up(session, tenant_id=tenant_id, livemode=livemode, now=ctx.clock.now())
    rule = get(session, livemode=livemode, rule_id=rule_id, lock=True)
    _apply(rule, changes)
    rule.updated_at = ctx.clock.now()
    session.flush()
    _audit(session, ctx, rule, actions.LOCALITY_RULE_UPDATED)
    _publish_rows(
        session, ctx, tenant_id=tenant_id, livemode=livemode, note=f"Rule for {rule.country} changed"
    )
    return rule


def delete(session: Session, ctx: Context, *, livemode: bool, rule_id: str) -> LocalityRule:
    tenant_id = _tenant_of(session)
    catch_up(session, tenant_id=tenant_id, livemode=livemode, now=ctx.clock.now())
    rule = get(session, livemode=livemode, rule_id=rule_id, lock=True)
    _audit(session, ctx, rule, actions.LOCALITY_RULE_DELETED)
    session.delete(rule)
    session.flush()
    _publish_rows(
        session, ctx, tenant_id=tenant_id, livemode=livemode, note=f"Rule for {rule.country} deleted"
    )
    return rule


def _tenant_of(session: Session) -> str:
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, str):
        raise ValueError("the session is bound to no tenant")
    return tenant_id
