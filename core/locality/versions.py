"""Versions of a tenant's locality rules: drafts, changes scheduled for a future moment, the history, and
restoring an old version; the preview and the dry run of a draft.

A version holds the whole rule set of one mode. Its `effective_at` says when it governs checkouts:

- null: a **draft**, which governs nothing until it is put in force or scheduled;
- a future moment: **scheduled**; from that moment on the hosted page applies it (the page asks
  `service.rules_for(..., at=ctx.clock.now())`), with no job to run at the moment itself;
- a past moment: **in force** (the latest such version) or **superseded** (an earlier one).

A change made meanwhile (through the API's rule routes or by putting a draft in force) applies until a
scheduled version's moment, when the scheduled version replaces the whole rule set.

The preview (here) and the dry run (core/workspace/locality.py) decide through `service.resolve`,
the function the hosted page decides with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Unpack

from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import money
from core.audit import actions
from core.audit import service as audit
from core.context import Context
from core.db import get_by_id
from core.errors import Conflict, InvalidInput, NotFound
from core.geo import validate_country
from core.locality import service
from core.locality.models import ALL_COUNTRIES, LocalityRuleVersion
from core.locality.service import Layer, LocalityRules
from core.pagination import Cursor, Page, paginate

METHOD_NAMES: Final = {"card": "Card", "wallet": "Wallet", "bank": "Online banking"}
FIELD_NAMES: Final = {"postal_code": "postal code", "email": "email"}


class VersionStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    IN_FORCE = "in_force"
    SUPERSEDED = "superseded"


def status_of(
    session: Session, version: LocalityRuleVersion, *, now: datetime, in_force_id: str | None = None
) -> VersionStatus:
    """The version's state now; `in_force_id` (the id of the version in force) saves a query per row."""
    if version.effective_at is None:
        return VersionStatus.DRAFT
    if version.effective_at > now:
        return VersionStatus.SCHEDULED
    if in_force_id is None:
        current = service.in_force_at(session, livemode=version.livemode, at=now)
        in_force_id = current.id if current is not None else ""
    return VersionStatus.IN_FORCE if in_force_id == version.id else VersionStatus.SUPERSEDED


def _stamp(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def serialize_rule(layer: Mapping[str, Any], *, livemode: bool) -> dict[str, Any]:
    return {
        "id": layer.get("id"),
        "object": "locality_rule",
        "country": layer["country"],
        "livemode": livemode,
        **{name: layer.get(name) for name in service.RULE_FIELDS},
        "created_at": layer.get("created_at"),
        "updated_at": layer.get("updated_at"),
    }


def serialize(
    session: Session, version: LocalityRuleVersion, *, now: datetime, in_force_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": version.id,
        "object": "locality_rule_version",
        "number": version.number,
        "livemode": version.livemode,
        "status": str(status_of(session, version, now=now, in_force_id=in_force_id)),
        "effective_at": _stamp(version.effective_at),
        "note": version.note,
        "restored_from": version.restored_from,
        "rules": [serialize_rule(layer, livemode=version.livemode) for layer in version.rules],
        "created_at": _stamp(version.created_at),
        "updated_at": _stamp(version.updated_at),
    }


def get(session: Session, *, livemode: bool, version_id: str, lock: bool = False) -> LocalityRuleVersion:
    """A version of the current tenant in this mode: another mode's, like another tenant's, is not found."""
    version = get_by_id(
        session, LocalityRuleVersion, version_id, prefix="lrver", what="locality rule version", lock=lock
    )
    if version.livemode != livemode:
        raise NotFound(f"No such locality rule version: {version_id!r}.", param="id")
    return version


def list_versions(
    session: Session,
    *,
    livemode: bool,
    **cursor: Unpack[Cursor],
) -> Page[LocalityRuleVersion]:
    statement = select(LocalityRuleVersion).where(LocalityRuleVersion.livemode == livemode)
    return paginate(session, statement, id_column=LocalityRuleVersion.id, **cursor)


def scheduled(session: Session, *, livemode: bool, now: datetime) -> list[LocalityRuleVersion]:
    """The changes waiting for their moment, soonest first."""
    return list(
        session.scalars(
            select(LocalityRuleVersion)
            .where(LocalityRuleVersion.livemode == livemode, LocalityRuleVersion.effective_at > now)
            .order_by(LocalityRuleVersion.effective_at, LocalityRuleVersion.number)
        )
    )


def latest_draft(session: Session, *, livemode: bool) -> LocalityRuleVersion | None:
    return session.scalar(
        select(LocalityRuleVersion)
        .where(LocalityRuleVersion.livemode == livemode, LocalityRuleVersion.effective_at.is_(None))
        .order_by(LocalityRuleVersion.number.desc())
        .limit(1)
    )


def current_layers(session: Session, *, livemode: bool, now: datetime) -> list[Layer]:
    """The rule set in force now (none before the first version: Kassa's defaults)."""
    version = service.in_force_at(session, livemode=livemode, at=now)
    return [] if version is None else [dict(layer) for layer in version.rules]


def _rules(value: object, *, now: datetime, base: Sequence[Layer] = ()) -> list[dict[str, Any]]:
    """A version's rules as given (API): a list of rules, one per country, each checked as a rule is."""
    if not isinstance(value, list):
        raise InvalidInput(
            'rules must be a list of rules like [{"country": "DE", "methods": ["card"]}].', param="rules"
        )
    by_country = {str(layer["country"]): layer for layer in base}
    checked: list[dict[str, Any]] = []
    for entry in value:
        if not isinstance(entry, dict):
            raise InvalidInput("Each rule is an object with a country and the rule's fields.", param="rules")
        country = entry.get("country")
        country = country.upper() if isinstance(country, str) and country != ALL_COUNTRIES else country
        rule = service.validate_rule(
            {k: v for k, v in entry.items() if k not in ("id", "created_at", "updated_at")},
            now=now,
            base=by_country.get(str(country)),
        )
        if any(other["country"] == rule["country"] for other in checked):
            raise InvalidInput(f"rules names {rule['country']} twice: one rule per country.", param="rules")
        checked.append(rule)
    return checked


def _moment(value: datetime | None, *, now: datetime) -> datetime | None:
    if value is not None and value <= now:
        raise InvalidInput(
            "effective_at must be in the future; to put the rules in force now, publish without it.",
            param="effective_at",
        )
    return value


def _note(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidInput("note must be text of at most 200 characters.", param="note")
    return value.strip() or None


def _editable(session: Session, version: LocalityRuleVersion, *, now: datetime) -> None:
    state = status_of(session, version, now=now)
    if state not in (VersionStatus.DRAFT, VersionStatus.SCHEDULED):
        raise Conflict(
            f"Version {version.number} has taken effect and is history now; "
            "restore it to use its rules again.",
            param="id",
        )


def _audit(session: Session, ctx: Context, version: LocalityRuleVersion, action: str, **extra: Any) -> None:
    audit.record(
        session,
        ctx,
        action,
        subject=version,
        details={
            "number": version.number,
            "effective_at": version.effective_at.isoformat() if version.effective_at else None,
            "note": version.note,
            "rules": version.rules,
            **extra,
        },
    )


def create(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    livemode: bool,
    rules: object = None,
    effective_at: datetime | None = None,
    note: object = None,
) -> LocalityRuleVersion:
    """A draft (no `effective_at`) or a change scheduled for a future moment. Without `rules`, the draft
    starts as a copy of the rules in force now."""
    now = ctx.clock.now()
    current = current_layers(session, livemode=livemode, now=now)
    layers = current if rules is None else _rules(rules, now=now, base=current)
    version = service.new_version(
        session,
        ctx,
        tenant_id=tenant_id,
        livemode=livemode,
        rules=layers,
        effective_at=_moment(effective_at, now=now),
        note=_note(note),
    )
    action = actions.LOCALITY_VERSION_SCHEDULED if version.effective_at else actions.LOCALITY_VERSION_DRAFTED
    _audit(session, ctx, version, action)
    return version


def update(
    session: Session,
    ctx: Context,
    *,
    livemode: bool,
    version_id: str,
    changes: Mapping[str, Any],
) -> LocalityRuleVersion:
    """Change a draft or a scheduled change: `rules`, `note`, `effective_at` (a future moment, or null:
    back to a draft)."""
    now = ctx.clock.now()
    version = get(session, livemode=livemode, version_id=version_id, lock=True)
    _editable(session, version, now=now)
    unknown = sorted(set(changes) - {"rules", "note", "effective_at"})
    if unknown:
        raise InvalidInput(f"Unknown field {unknown[0]!r}.", param=unknown[0])
    if "rules" in changes:
        version.rules = _rules(changes["rules"], now=now, base=version.rules)
    if "note" in changes:
        version.note = _note(changes["note"])
    if "effective_at" in changes:
        version.effective_at = _moment(changes["effective_at"], now=now)
    version.updated_at = now
    session.flush()
    action = (
        actions.LOCALITY_VERSION_SCHEDULED
        if "effective_at" in changes and version.effective_at
        else (actions.LOCALITY_VERSION_UPDATED)
    )
    _audit(session, ctx, version, action)
    return version


def put_rule(
    session: Session, ctx: Context, *, livemode: bool, version_id: str, data: Mapping[str, Any]
) -> LocalityRuleVersion:
    """Add or replace one country's rule in a draft or scheduled change (the portal editor's form)."""
    now = ctx.clock.now()
    version = get(session, livemode=livemode, version_id=version_id, lock=True)
    _editable(session, version, now=now)
    country = data.get("country")
    if not isinstance(country, str) or not country.strip():
        raise InvalidInput('Enter a country code like "DE", or "*" for every country.', param="country")
    key = country.strip().upper() if country.strip() != ALL_COUNTRIES else ALL_COUNTRIES
    if key != ALL_COUNTRIES:
        key = validate_country(key)
    existing = next((layer for layer in version.rules if layer["country"] == key), None)
    rule = service.validate_rule({**data, "country": key}, now=now, base=existing)
    version.rules = sorted(
        [*(layer for layer in version.rules if layer["country"] != key), rule],
        key=lambda x: (x["country"] != ALL_COUNTRIES, x["country"]),
    )
    version.updated_at = now
    session.flush()
    _audit(session, ctx, version, actions.LOCALITY_VERSION_UPDATED, changed=key)
    return version


def remove_rule(
    session: Session, ctx: Context, *, livemode: bool, version_id: str, country: str
) -> LocalityRuleVersion:
    now = ctx.clock.now()
    version = get(session, livemode=livemode, version_id=version_id, lock=True)
    _editable(session, version, now=now)
    kept = [layer for layer in version.rules if layer["country"] != country]
    if len(kept) == len(version.rules):
        raise NotFound(f"Version {version.number} has no rule for {country}.", param="country")
    version.rules = kept
    version.updated_at = now
    session.flush()
    _audit(session, ctx, version, actions.LOCALITY_VERSION_UPDATED, removed=country)
    return version


def publish(
    session: Session,
    ctx: Context,
    *,
    livemode: bool,
    version_id: str,
    effective_at: datetime | None = None,
) -> LocalityRuleVersion:
    """Put a draft (or a scheduled change) in force now, or schedule it for a future `effective_at`."""
    now = ctx.clock.now()
    version = get(session, livemode=livemode, version_id=version_id, lock=True)
    _editable(session, version, now=now)
    if effective_at is not None:
        version.effective_at = _moment(effective_at, now=now)
        version.updated_at = now
        session.flush()
        _audit(session, ctx, version, actions.LOCALITY_VERSION_SCHEDULED)
        return version
    version.effective_at = now
    version.updated_at = now
    session.flush()
    service.sync_table(session, tenant_id=version.tenant_id, livemode=livemode, layers=version.rules)
    _audit(session, ctx, version, actions.LOCALITY_VERSION_PUBLISHED)
    return version


def restore(session: Session, ctx: Context, *, livemode: bool, version_id: str) -> LocalityRuleVersion:
    """A new version, in force now, with the rules of a version that was in force once."""
    now = ctx.clock.now()
    old = get(session, livemode=livemode, version_id=version_id)
    if old.effective_at is None or old.effective_at > now:
        raise Conflict(
            f"Version {old.number} never took effect; publish it instead of restoring it.", param="id"
        )
    version = service.new_version(
        session,
        ctx,
        tenant_id=old.tenant_id,
        livemode=livemode,
        rules=old.rules,
        effective_at=now,
        note=f"Restored version {old.number}",
        restored_from=old.id,
    )
    service.sync_table(session, tenant_id=old.tenant_id, livemode=livemode, layers=version.rules)
    _audit(session, ctx, version, actions.LOCALITY_VERSION_RESTORED, restored_from=old.id)
    return version


def discard(session: Session, ctx: Context, *, livemode: bool, version_id: str) -> LocalityRuleVersion:
    """Throw away a draft or cancel a scheduled change (history is never deleted)."""
    now = ctx.clock.now()
    version = get(session, livemode=livemode, version_id=version_id, lock=True)
    _editable(session, version, now=now)
    _audit(session, ctx, version, actions.LOCALITY_VERSION_DISCARDED)
    session.delete(version)
    session.flush()
    return version


# --- preview: what a shopper sees -----------------------------------------------------------------------


def language_name(code: str) -> str:
    return str(Locale.parse(code).get_display_name("en") or code).capitalize()


def describe(rules: LocalityRules, *, amount: int) -> str:
    """What a shopper sees, in one line: "A shopper in DE paying 120.00 EUR sees: Card, Wallet; postal
    code required; 3DS; German"."""
    where = "every other country" if rules.country == ALL_COUNTRIES else rules.country
    head = f"A shopper in {where} paying {money.amount_text(amount, rules.currency)}"
    refusal = rules.problem(amount)
    if refusal == "amount_too_small":
        return f"{head} cannot pay: at least {money.amount_text(rules.min_amount or 0, rules.currency)}."
    if refusal == "amount_too_large":
        return f"{head} cannot pay: at most {money.amount_text(rules.max_amount or 0, rules.currency)}."
    if refusal == "no_method":
        return f"{head} cannot pay: no payment method is offered."
    parts = [", ".join(METHOD_NAMES.get(m, m) for m in rules.methods)]
    for name in sorted(rules.required_fields):
        parts.append(f"{FIELD_NAMES.get(name, name)} required")
    if rules.surcharge_bps and "card" in rules.methods:
        surcharge = money.amount_text(rules.surcharge_on(amount, "card"), rules.currency)
        parts.append(f"card surcharge {rules.surcharge_bps / 100:g}% ({surcharge})")
    parts.append("3DS" if rules.three_ds_required else "3DS when the issuer asks")
    parts.append(language_name(rules.default_language))
    return f"{head} sees: " + "; ".join(parts)


@dataclass(frozen=True)
class Preview:
    rules: LocalityRules
    amount: int
    text: str
    #: Why a method the checkout has is not offered at this amount ("Wallet: only up to 100.00 EUR").
    notes: tuple[str, ...] = ()


def preview(
    layers: Sequence[Layer], *, country: str, currency: str, amount: int, methods: Sequence[str]
) -> Preview:
    """What a shopper of `country` paying `amount` sees under `layers`, decided by `service.resolve`."""
    rules = service.resolve(layers, country=country, currency=currency, methods=methods, amount=amount)
    notes = []
    for method, low, high in rules.withheld:
        bounds = []
        if low is not None:
            bounds.append(f"from {money.amount_text(low, currency)}")
        if high is not None:
            bounds.append(f"up to {money.amount_text(high, currency)}")
        notes.append(f"{METHOD_NAMES.get(method, method)} is offered only {' '.join(bounds)}.")
    return Preview(rules=rules, amount=amount, text=describe(rules, amount=amount), notes=tuple(notes))


def with_currency_limits(
    existing: Mapping[str, Any] | None,
    *,
    currency: str,
    min_amount: int | None,
    max_amount: int | None,
    method_max: Mapping[str, int | None],
) -> dict[str, Any]:
    """A rule's `amount_limits` and `method_limits` with the entries of one currency replaced (the
    editor's form shows one currency at a time; the other currencies' limits stay as they are)."""
    amount_limits = [e for e in (existing or {}).get("amount_limits") or () if e.get("currency") != currency]
    if min_amount is not None or max_amount is not None:
        entry: dict[str, Any] = {"currency": currency}
        if min_amount is not None:
            entry["min"] = min_amount
        if max_amount is not None:
            entry["max"] = max_amount
        amount_limits.append(entry)
    method_limits = [
        dict(e)
        for e in (existing or {}).get("method_limits") or ()
        if e.get("currency") != currency or e.get("method") not in method_max
    ]
    for method, high in method_max.items():
        if high is not None:
            method_limits.append({"method": method, "currency": currency, "max": high})
    return {"amount_limits": amount_limits or None, "method_limits": method_limits or None}


def summarize(layer: Mapping[str, Any]) -> list[str]:
    """One rule in words, a phrase per field it sets (the editor's tables)."""
    phrases: list[str] = []
    if layer.get("methods") is not None:
        phrases.append("Offers " + ", ".join(METHOD_NAMES.get(m, m) for m in layer["methods"]))
    for entry in layer.get("amount_limits") or ():
        currency = entry["currency"]
        low, high = entry.get("min"), entry.get("max")
        if low is not None and high is not None:
            text = f"{money.amount_text(low, currency)} to {money.amount_text(high, currency)}"
        elif low is not None:
            text = f"at least {money.amount_text(low, currency)}"
        else:
            text = f"at most {money.amount_text(high or 0, currency)}"
        phrases.append(f"Amounts {text}")
    for entry in layer.get("method_limits") or ():
        currency, method = entry["currency"], METHOD_NAMES.get(entry["method"], entry["method"])
        if entry.get("max") is not None:
            phrases.append(f"{method} only up to {money.amount_text(entry['max'], currency)}")
        if entry.get("min") is not None:
            phrases.append(f"{method} only from {money.amount_text(entry['min'], currency)}")
    required = layer.get("required_fields")
    if required is not None:
        names = [FIELD_NAMES.get(name, name) for name in required]
        phrases.append(("Requires " + " and ".join(names)) if names else "No extra fields")
    if layer.get("surcharge_bps") is not None:
        phrases.append(f"Card surcharge {layer['surcharge_bps'] / 100:g}%")
    if layer.get("three_ds") is not None:
        phrases.append("3DS on every card" if layer["three_ds"] == "required" else "3DS when the issuer asks")
    if layer.get("default_language") is not None:
        phrases.append(f"{language_name(layer['default_language'])} by default")
    return phrases or ["Sets nothing (the next layer decides)"]
