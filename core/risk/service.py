"""Risk screening before the processor: amount limits, block lists, velocity and card-testing counters.

`screen()` answers allow / review / block with stable reason codes; BLOCK wins over REVIEW over ALLOW.
Amount limits and block lists live in the database (per tenant); velocity and card-testing counters live
in Redis in fixed one-hour windows of the caller's clock. Redis keys and block-list values hold emails,
IPs and card fingerprints only as SHA-256 hashes.

Redis is a dependency screening can live without: when it is down, `screen()` still answers on the
database rules and adds `velocity_unavailable` (a REVIEW, never a BLOCK of its own).

Test mode is for developers: a test-mode payment with a documented test card (core/risk/test_cards.py)
skips the counters (it is neither counted nor blocked by them); the risk test cards answer their outcome
instead.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.clock import Clock, system_clock
from core.context import Acting
from core.db import TenantMismatch
from core.errors import Conflict, InvalidInput, NotFound
from core.geo import countries
from core.ids import new_id
from core.redis import RedisClient
from core.risk import test_cards
from core.risk.models import DEFAULT_SETTINGS, SETTINGS_ID, BlockKind, RiskBlock, RiskSettings

log = logging.getLogger(__name__)

_PREFIX: Final = "kassa:risk:"
_HOUR: Final = 3600
#: Counters of a checkout session outlive any session (sessions expire within a day).
_SESSION_TTL: Final = 2 * 24 * _HOUR
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Upper bounds that keep settings sane (and inside the columns): amounts, and counts per window.
_MAX_AMOUNT_SETTING: Final = 10**15
_MAX_COUNT_SETTING: Final = 1_000_000
_AMOUNT_SETTINGS: Final = frozenset({"max_amount", "review_amount"})


class Decision(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class Reason(StrEnum):
    """Stable reason codes (API clients and the portal switch on them)."""

    AMOUNT_OVER_LIMIT = "amount_over_limit"
    AMOUNT_NEEDS_REVIEW = "amount_needs_review"
    BLOCKED_EMAIL = "blocked_email"
    BLOCKED_IP = "blocked_ip"
    BLOCKED_CARD = "blocked_card"
    BLOCKED_BIN = "blocked_bin"
    BLOCKED_COUNTRY = "blocked_country"
    VELOCITY_CARD = "velocity_card"
    VELOCITY_EMAIL = "velocity_email"
    VELOCITY_IP = "velocity_ip"
    CARD_TESTING_SESSION = "card_testing_session"
    CARD_TESTING_IP = "card_testing_ip"
    CARD_TESTING_CARD = "card_testing_card"
    VELOCITY_UNAVAILABLE = "velocity_unavailable"
    #: Test mode only: the always-blocked and the elevated-risk test cards.
    TEST_CARD_ALWAYS_BLOCKED = "test_card_always_blocked"
    TEST_CARD_ELEVATED_RISK = "test_card_elevated_risk"

    @property
    def decision(self) -> Decision:
        if self in (Reason.AMOUNT_NEEDS_REVIEW, Reason.VELOCITY_UNAVAILABLE, Reason.TEST_CARD_ELEVATED_RISK):
            return Decision.REVIEW
        return Decision.BLOCK


_SEVERITY: Final = {Decision.ALLOW: 0, Decision.REVIEW: 1, Decision.BLOCK: 2}


@dataclass(frozen=True)
class RiskInput:
    """What screening looks at. `fingerprint` is the vault's card fingerprint; `bin` its first 6-8 digits."""

    tenant_id: str
    session_id: str
    amount: int
    currency: str
    # Personal data stays out of reprs (and so out of logs and tracebacks).
    email: str | None = field(default=None, repr=False)
    ip: str | None = field(default=None, repr=False)
    fingerprint: str | None = field(default=None, repr=False)
    card_country: str | None = None
    bin: str | None = None
    #: Names this attempt (the payment id) so that screening or recording it again, as a job run twice
    #: does, counts it once. None: every call is a new attempt.
    attempt_id: str | None = None
    #: The payment's mode: only test mode knows test cards.
    livemode: bool = True
    #: The documented test card the payment used (`test_cards.documented(pan)`), or None. Public numbers,
    #: but card-shaped: kept out of reprs like the rest.
    test_card: str | None = field(default=None, repr=False)

    def attempt(self) -> str:
        return self.attempt_id or f"anon_{secrets.token_hex(8)}"

    @property
    def sandbox_card(self) -> str | None:
        """The test card, in test mode only: such a payment skips the counters (module docstring)."""
        return None if self.livemode else self.test_card


#: The risk test cards' outcomes (the velocity card's is the real velocity rule's reason).
_TEST_CARD_REASONS: Final = {
    test_cards.ALWAYS_BLOCKED: Reason.TEST_CARD_ALWAYS_BLOCKED,
    test_cards.ELEVATED_RISK: Reason.TEST_CARD_ELEVATED_RISK,
    test_cards.VELOCITY: Reason.VELOCITY_CARD,
}


@dataclass(frozen=True)
class RiskResult:
    decision: Decision
    reasons: tuple[str, ...] = ()

    def as_api(self) -> dict[str, Any]:
        return {"decision": str(self.decision), "reasons": list(self.reasons)}


def decide(reasons: list[Reason]) -> RiskResult:
    """The strictest decision among the reasons (ALLOW when none), reasons in rule order, once each."""
    unique = list(dict.fromkeys(reasons))
    decision = max((r.decision for r in unique), key=_SEVERITY.__getitem__, default=Decision.ALLOW)
    return RiskResult(decision, tuple(str(r) for r in unique))


# -- screening ---------------------------------------------------------------------------------------


def screen(session: Session, redis_client: RedisClient, *, risk: RiskInput, clock: Clock) -> RiskResult:
    """Screen one payment attempt, and count it (velocity counts every attempt, whatever the answer)."""
    settings = get_settings(session, tenant_id=risk.tenant_id)
    reasons: list[Reason] = []
    if settings["max_amount"] and risk.amount > settings["max_amount"]:
        reasons.append(Reason.AMOUNT_OVER_LIMIT)
    elif settings["review_amount"] and risk.amount >= settings["review_amount"]:
        reasons.append(Reason.AMOUNT_NEEDS_REVIEW)
    reasons += _block_list_reasons(session, risk=risk, blocked_countries=settings["blocked_countries"])
    test_card = risk.sandbox_card
    if test_card is not None:
        # A developer's test card: no counter counts or blocks it; a risk test card answers its outcome.
        if test_card in _TEST_CARD_REASONS:
            reasons.append(_TEST_CARD_REASONS[test_card])
        return decide(reasons)
    try:
        reasons += _counter_reasons(redis_client, risk=risk, settings=settings, clock=clock)
    except redis.RedisError as exc:
        log.warning("risk screening without velocity counters: Redis unavailable (%s)", type(exc).__name__)
        reasons.append(Reason.VELOCITY_UNAVAILABLE)
    return decide(reasons)


def record_decline(redis_client: RedisClient, *, risk: RiskInput, clock: Clock = system_clock) -> None:
    """Count a declined attempt toward card-testing detection (per session; per IP and card per hour).

    Pass the clock `screen()` got: both must agree on the hour. Recording one `attempt_id` twice counts
    once. Best effort: Redis down loses the count. A test-mode test card's decline is not counted.
    """
    if risk.sandbox_card is not None:
        return
    attempt = risk.attempt()
    hour = _hour(clock)
    keys: list[tuple[str, int]] = [
        (_counter_key(risk.tenant_id, "declines_session", risk.session_id), _SESSION_TTL)
    ]
    if risk.ip:
        keys.append((_counter_key(risk.tenant_id, "declines_ip", _canonical_ip(risk.ip), hour), 2 * _HOUR))
    if risk.fingerprint:
        keys.append((_counter_key(risk.tenant_id, "declines_card", risk.fingerprint, hour), 2 * _HOUR))
    try:
        with redis_client.pipeline(transaction=False) as pipe:
            for key, ttl in keys:
                pipe.sadd(key, attempt)
                pipe.expire(key, ttl, nx=True)
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("risk: decline not counted, Redis unavailable (%s)", type(exc).__name__)


def _hour(clock: Clock) -> str:
    return str(int(clock.now().timestamp()) // _HOUR)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _counter_key(tenant_id: str, counter: str, subject: str, window: str = "") -> str:
    # Hashed subject: emails, IPs and fingerprints never sit in Redis in the clear.
    key = f"{_PREFIX}{tenant_id}:{counter}:{_sha256(subject)[:32]}"
    return f"{key}:{window}" if window else key


def _counter_reasons(
    redis_client: RedisClient, *, risk: RiskInput, settings: Mapping[str, Any], clock: Clock
) -> list[Reason]:
    hour = _hour(clock)
    ttl = 2 * _HOUR  # the window's hour, and slack for clocks that disagree a little
    attempts: list[tuple[Reason, str, int]] = []
    if risk.fingerprint:
        attempts.append((Reason.VELOCITY_CARD, risk.fingerprint, settings["max_attempts_per_card_hour"]))
    if risk.email:
        attempts.append(
            (Reason.VELOCITY_EMAIL, _canonical_email(risk.email), settings["max_attempts_per_email_hour"])
        )
    if risk.ip:
        attempts.append((Reason.VELOCITY_IP, _canonical_ip(risk.ip), settings["max_attempts_per_ip_hour"]))
    declines: list[tuple[Reason, str, int]] = [
        (
            Reason.CARD_TESTING_SESSION,
            _counter_key(risk.tenant_id, "declines_session", risk.session_id),
            settings["max_declines_per_session"],
        )
    ]
    if risk.ip:
        key = _counter_key(risk.tenant_id, "declines_ip", _canonical_ip(risk.ip), hour)
        declines.append((Reason.CARD_TESTING_IP, key, settings["max_declines_per_ip_hour"]))
    if risk.fingerprint:
        key = _counter_key(risk.tenant_id, "declines_card", risk.fingerprint, hour)
        declines.append((Reason.CARD_TESTING_CARD, key, settings["max_declines_per_card_hour"]))

    # One round trip: add this attempt to every window's set, read the sizes. Sets of attempt ids, not
    # plain counters, so a job that screens the same payment again after a crash does not count it twice.
    attempt = risk.attempt()
    with redis_client.pipeline(transaction=False) as pipe:
        for reason, subject, _ in attempts:
            key = _counter_key(risk.tenant_id, f"attempts_{reason.removeprefix('velocity_')}", subject, hour)
            pipe.sadd(key, attempt)
            pipe.expire(key, ttl, nx=True)
            pipe.scard(key)
        for _, key, _ in declines:
            pipe.scard(key)
        replies = pipe.execute()

    reasons = []
    attempt_counts = replies[2 : 3 * len(attempts) : 3]
    for (reason, _, limit), count in zip(attempts, attempt_counts, strict=True):
        if limit and int(count) > limit:
            reasons.append(reason)
    for (reason, _, limit), count in zip(declines, replies[3 * len(attempts) :], strict=True):
        if limit and int(count) >= limit:
            reasons.append(reason)
    return reasons


def _block_list_reasons(session: Session, *, risk: RiskInput, blocked_countries: list[str]) -> list[Reason]:
    candidates: dict[tuple[BlockKind, str], Reason] = {}
    if risk.email:
        candidates[(BlockKind.EMAIL, _sha256(_canonical_email(risk.email)))] = Reason.BLOCKED_EMAIL
    if risk.ip:
        candidates[(BlockKind.IP, _sha256(_canonical_ip(risk.ip)))] = Reason.BLOCKED_IP
    if risk.fingerprint:
        candidates[(BlockKind.CARD, _sha256(risk.fingerprint.strip()))] = Reason.BLOCKED_CARD
    if risk.bin:
        digits = "".join(c for c in risk.bin if c.isdigit())
        # A blocked 6-digit BIN covers every 7- and 8-digit one under it.
        for length in range(6, min(len(digits), 8) + 1):
            candidates[(BlockKind.BIN, digits[:length])] = Reason.BLOCKED_BIN
    country = risk.card_country.strip().upper() if risk.card_country else None
    if country:
        candidates[(BlockKind.COUNTRY, country)] = Reason.BLOCKED_COUNTRY
    if not candidates:
        return []
    _check_tenant(session, risk.tenant_id)
    rows = session.execute(
        select(RiskBlock.kind, RiskBlock.value).where(
            RiskBlock.tenant_id == risk.tenant_id,
            RiskBlock.value.in_(sorted({value for _, value in candidates})),
        )
    ).all()
    matched = {candidates[(kind, value)] for kind, value in rows if (kind, value) in candidates}
    if country and country in blocked_countries:
        matched.add(Reason.BLOCKED_COUNTRY)
    # Rule order (the enum's), so the same payment always lists its reasons the same way.
    return [reason for reason in Reason if reason in matched]


# -- settings ----------------------------------------------------------------------------------------


def _check_tenant(session: Session, tenant_id: str) -> None:
    current = session.info.get("tenant_id")
    if current is not None and current != tenant_id:
        raise TenantMismatch(f"risk data of tenant {tenant_id} asked for in tenant {current}'s context")


def _settings_row(session: Session, tenant_id: str) -> RiskSettings | None:
    _check_tenant(session, tenant_id)
    return session.get(RiskSettings, (tenant_id, SETTINGS_ID))


def get_settings(session: Session, *, tenant_id: str) -> dict[str, Any]:
    """The tenant's thresholds (the defaults until it changes one). 0 means the rule is off."""
    row = _settings_row(session, tenant_id)
    if row is None:
        return {**DEFAULT_SETTINGS, "blocked_countries": list(DEFAULT_SETTINGS["blocked_countries"])}
    return {name: getattr(row, name) for name in DEFAULT_SETTINGS} | {
        "blocked_countries": list(row.blocked_countries)
    }


def validate_settings(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes, checked and normalized; InvalidInput names the parameter of the first bad one."""
    if not isinstance(changes, Mapping):
        raise InvalidInput("Risk settings must be an object of setting names and values.")
    return {name: _validate_setting(name, value) for name, value in changes.items()}


def update_settings(
    session: Session, *, tenant_id: str, changes: Mapping[str, Any], ctx: Acting | None = None
) -> dict[str, Any]:
    """Change some thresholds; validates every value first (InvalidInput names the parameter), so an
    error changes nothing. With `ctx`, the change is audited (each changed setting, before and after)."""
    clean = validate_settings(changes)
    before = get_settings(session, tenant_id=tenant_id)
    row = _settings_row(session, tenant_id)
    if row is None:
        row = RiskSettings(tenant_id=tenant_id, id=SETTINGS_ID, **get_settings(session, tenant_id=tenant_id))
        session.add(row)
    for name, value in clean.items():
        setattr(row, name, value)
    session.flush()
    after = get_settings(session, tenant_id=tenant_id)
    changed = {
        name: {"from": before[name], "to": after[name]} for name in clean if before[name] != after[name]
    }
    if ctx is not None and changed:
        audit.record(
            session,
            ctx,
            actions.RISK_SETTINGS_UPDATED,
            subject=audit.Ref("risk_settings", SETTINGS_ID, tenant_id),
            details={"changed": changed},
        )
    return after


def _validate_setting(name: str, value: Any) -> Any:
    if name not in DEFAULT_SETTINGS:
        raise InvalidInput(
            f"Unknown risk setting {name!r}; settings are {', '.join(DEFAULT_SETTINGS)}.", param=name
        )
    if name == "blocked_countries":
        if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
            raise InvalidInput('blocked_countries must be a list of country codes (e.g. ["KP"]).', param=name)
        codes = sorted({c.strip().upper() for c in value})
        unknown = [c for c in codes if c not in countries()]
        if unknown:
            raise InvalidInput(
                f"{', '.join(unknown)}: not ISO 3166-1 alpha-2 country codes (e.g. DE, US).", param=name
            )
        return codes
    limit = _MAX_AMOUNT_SETTING if name in _AMOUNT_SETTINGS else _MAX_COUNT_SETTING
    # bool is an int to Python, but `true` is no threshold.
    if type(value) is not int or not 0 <= value <= limit:
        unit = "an amount in minor units" if name in _AMOUNT_SETTINGS else "a count"
        raise InvalidInput(f"{name} must be {unit}: a whole number from 0 (rule off) to {limit}.", param=name)
    return value


# -- block list --------------------------------------------------------------------------------------


def _canonical_email(email: str) -> str:
    return email.strip().lower()


def _canonical_ip(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip().lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)  # ::ffff:203.0.113.9 is 203.0.113.9
    return str(address)


def block_value(kind: BlockKind | str, value: str) -> str:
    """The stored form of a block-list value: hashed email/IP/fingerprint, clear BIN/country.

    Raises InvalidInput (param "kind" or "value") for a kind or value that cannot be blocked.
    """
    try:
        kind = BlockKind(kind)
    except ValueError:
        raise InvalidInput(
            f"Block kind must be one of {', '.join(BlockKind)}; got {kind!r}.", param="kind"
        ) from None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("A value to block is required.", param="value")
    value = value.strip()
    if kind is BlockKind.EMAIL:
        if len(value) > 320 or not _EMAIL.match(value):
            raise InvalidInput(f"{value!r} is not an email address.", param="value")
        return _sha256(_canonical_email(value))
    if kind is BlockKind.IP:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise InvalidInput(f"{value!r} is not an IPv4 or IPv6 address.", param="value") from None
        return _sha256(_canonical_ip(value))
    if kind is BlockKind.CARD:
        if len(value) > 128:
            raise InvalidInput(
                "A card is blocked by its fingerprint (at most 128 characters).", param="value"
            )
        return _sha256(value)
    if kind is BlockKind.BIN:
        digits = value.replace(" ", "")
        if not (digits.isdigit() and 6 <= len(digits) <= 8):
            raise InvalidInput("A BIN is the card number's first 6 to 8 digits.", param="value")
        return digits
    country = value.upper()
    if country not in countries():
        raise InvalidInput(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE).", param="value")
    return country


def add_block(
    session: Session,
    *,
    tenant_id: str,
    kind: BlockKind | str,
    value: str,
    note: str | None = None,
    clock: Clock,
    ctx: Acting | None = None,
) -> RiskBlock:
    """Block an email, IP, card (fingerprint), BIN or card country; adding an existing entry returns it.

    With `ctx`, the entry keeps who added it (`ctx.actor`) and the addition is audited; hashed kinds
    (email, IP, card) are audited without their value, as they are stored."""
    stored = block_value(kind, value)
    kind = BlockKind(kind)
    if note is not None:
        note = note.strip() or None
    if note is not None and len(note) > 500:
        raise InvalidInput("A note is at most 500 characters.", param="note")
    _check_tenant(session, tenant_id)
    existing = session.scalars(
        select(RiskBlock).where(
            RiskBlock.tenant_id == tenant_id, RiskBlock.kind == kind, RiskBlock.value == stored
        )
    ).first()
    if existing is not None:
        return existing
    block = RiskBlock(
        tenant_id=tenant_id,
        id=new_id("blk"),
        kind=kind,
        value=stored,
        note=note,
        created_by_type=str(ctx.actor.type) if ctx is not None else None,
        created_by_id=ctx.actor.id if ctx is not None else None,
        created_at=clock.now(),
    )
    session.add(block)
    try:
        session.flush()
    except IntegrityError:
        # Another request added the same entry a moment ago; this transaction is spent either way.
        raise Conflict("This entry was just added to the block list by another request.") from None
    if ctx is not None:
        audit.record(session, ctx, actions.RISK_BLOCK_ADDED, subject=block, details=_block_details(block))
    return block


def _block_details(block: RiskBlock) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": str(block.kind), "note": block.note}
    if block.kind in (BlockKind.BIN, BlockKind.COUNTRY):
        details["value"] = block.value  # stored in the clear; the hashed kinds stay hashed
    return details


def remove_block(session: Session, *, tenant_id: str, block_id: str, ctx: Acting | None = None) -> None:
    _check_tenant(session, tenant_id)
    block = session.get(RiskBlock, (tenant_id, block_id))
    if block is None:
        raise NotFound(f"No such block-list entry: {block_id}.", param="id")
    if ctx is not None:
        audit.record(session, ctx, actions.RISK_BLOCK_REMOVED, subject=block, details=_block_details(block))
    session.delete(block)
    session.flush()


def list_blocks(session: Session, *, tenant_id: str, kind: BlockKind | str | None = None) -> list[RiskBlock]:
    """The tenant's block list, oldest first (ids sort by creation time)."""
    _check_tenant(session, tenant_id)
    query = select(RiskBlock).where(RiskBlock.tenant_id == tenant_id).order_by(RiskBlock.id)
    if kind is not None:
        try:
            query = query.where(RiskBlock.kind == BlockKind(kind))
        except ValueError:
            raise InvalidInput(
                f"Block kind must be one of {', '.join(BlockKind)}; got {kind!r}.", param="kind"
            ) from None
    return list(session.scalars(query))
