"""Risk screening: amount limits, block lists, velocity, card testing, per-tenant rules, Redis outages."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select

from core.clock import FrozenClock
from core.db import TenantMismatch
from core.errors import InvalidInput, NotFound
from core.jobs.runtime import Runtime
from core.risk import service as risk
from core.risk.models import DEFAULT_SETTINGS, BlockKind, RiskBlock
from core.risk.service import Decision, RiskInput, RiskResult
from tests.fixtures import Factories

EMAIL = "Shopper.One@Example.com"
IP = "203.0.113.9"
FINGERPRINT = "fp_3f9a0c1d2e4b"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 22, 12, 5, tzinfo=UTC))


def attempt(tenant_id: str, **changes: Any) -> RiskInput:
    base = RiskInput(
        tenant_id=tenant_id,
        session_id="cs_test_1",
        amount=2500,
        currency="EUR",
        email=EMAIL,
        ip=IP,
        fingerprint=FINGERPRINT,
        card_country="DE",
        bin="42424242",
    )
    return dataclasses.replace(base, **changes)


def screen(rt: Runtime, risk_input: RiskInput, clock: FrozenClock, *, client: Any = None) -> RiskResult:
    with rt.db.unit_of_work(tenant_id=risk_input.tenant_id) as uow:
        return risk.screen(uow.session, client or rt.redis, risk=risk_input, clock=clock)


def configure(rt: Runtime, tenant_id: str, **changes: Any) -> dict[str, Any]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return risk.update_settings(uow.session, tenant_id=tenant_id, changes=changes)


def block(rt: Runtime, tenant_id: str, kind: str, value: str, clock: FrozenClock) -> RiskBlock:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return risk.add_block(
            uow.session, tenant_id=tenant_id, kind=kind, value=value, note="fraud", clock=clock
        )


# -- amounts -----------------------------------------------------------------------------------------


def test_an_ordinary_payment_is_allowed(make: Factories, clean: Runtime, clock: FrozenClock) -> None:
    t = make.tenants()
    result = screen(clean, attempt(t.id), clock)
    assert result == RiskResult(Decision.ALLOW, ())
    assert result.as_api() == {"decision": "allow", "reasons": []}


@pytest.mark.parametrize(
    ("amount", "decision", "reasons"),
    [
        (499_999, Decision.ALLOW, []),
        (500_000, Decision.REVIEW, ["amount_needs_review"]),
        (1_000_000, Decision.REVIEW, ["amount_needs_review"]),
        (1_000_001, Decision.BLOCK, ["amount_over_limit"]),
    ],
)
def test_default_amount_limits(
    make: Factories, clean: Runtime, clock: FrozenClock, amount: int, decision: Decision, reasons: list[str]
) -> None:
    t = make.tenants()
    result = screen(clean, attempt(t.id, amount=amount), clock)
    assert result.as_api() == {"decision": str(decision), "reasons": reasons}


def test_thresholds_are_per_tenant(make: Factories, clean: Runtime, clock: FrozenClock) -> None:
    strict, relaxed = make.tenants(), make.tenants()
    configure(clean, strict.id, max_amount=1000, review_amount=0, max_attempts_per_card_hour=1)
    assert screen(clean, attempt(strict.id, amount=1001), clock).reasons == ("amount_over_limit",)
    assert screen(clean, attempt(relaxed.id, amount=1001), clock).decision is Decision.ALLOW
    # Counters are per tenant too: the strict tenant's attempts do not count against the relaxed one.
    for _ in range(3):
        screen(clean, attempt(relaxed.id), clock)
    assert screen(clean, attempt(relaxed.id), clock).decision is Decision.ALLOW
    assert "velocity_card" in screen(clean, attempt(strict.id, amount=10), clock).reasons


def test_zero_switches_a_rule_off(make: Factories, clean: Runtime, clock: FrozenClock) -> None:
    t = make.tenants()
    configure(clean, t.id, max_amount=0, review_amount=0, max_attempts_per_ip_hour=0)
    assert screen(clean, attempt(t.id, amount=10**12), clock).decision is Decision.ALLOW
    for _ in range(30):
        result = screen(clean, attempt(t.id, email=None, fingerprint=None), clock)
    assert result.decision is Decision.ALLOW


# -- velocity and card testing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "reason", "vary"),
    [
        ("max_attempts_per_card_hour", "velocity_card", {"email": None, "ip": None}),
        ("max_attempts_per_email_hour", "velocity_email", {"fingerprint": None, "ip": None}),
        ("max_attempts_per_ip_hour", "velocity_ip", {"fingerprint": None, "email": None}),
    ],
)
def test_too_many_attempts_in_an_hour_are_blocked(
    make: Factories, clean: Runtime, clock: FrozenClock, setting: str, reason: str, vary: dict[str, Any]
) -> None:
    t = make.tenants()
    configure(clean, t.id, **{setting: 3})
    results = [screen(clean, attempt(t.id, **vary), clock) for _ in range(4)]
    assert [r.decision for r in results] == [Decision.ALLOW] * 3 + [Decision.BLOCK]
    assert results[-1].reasons == (reason,)
    # Every attempt counts, the blocked ones too; the next hour starts afresh.
    assert screen(clean, attempt(t.id, **vary), clock).decision is Decision.BLOCK
    clock.advance(hours=1)
    assert screen(clean, attempt(t.id, **vary), clock).decision is Decision.ALLOW


def test_velocity_recognizes_the_same_shopper_however_written(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    t = make.tenants()
    configure(clean, t.id, max_attempts_per_email_hour=1, max_attempts_per_ip_hour=1)
    screen(clean, attempt(t.id, fingerprint=None), clock)
    again = screen(
        clean, attempt(t.id, fingerprint=None, email=" shopper.one@EXAMPLE.com", ip=f"::ffff:{IP}"), clock
    )
    assert again.reasons == ("velocity_email", "velocity_ip")


@pytest.mark.parametrize(
    ("setting", "reason", "next_attempt"),
    [
        # Same session, fresh card and IP each time: the session is testing cards.
        (
            "max_declines_per_session",
            "card_testing_session",
            {"fingerprint": "fp_other", "ip": "198.51.100.1"},
        ),
        # Another session from the same IP.
        (
            "max_declines_per_ip_hour",
            "card_testing_ip",
            {"session_id": "cs_test_2", "fingerprint": "fp_other"},
        ),
        # The same card in another session from elsewhere.
        (
            "max_declines_per_card_hour",
            "card_testing_card",
            {"session_id": "cs_test_3", "ip": "198.51.100.2"},
        ),
    ],
)
def test_many_declines_look_like_card_testing(
    make: Factories,
    clean: Runtime,
    clock: FrozenClock,
    setting: str,
    reason: str,
    next_attempt: dict[str, Any],
) -> None:
    t = make.tenants()
    configure(clean, t.id, **{setting: 3})
    for n in range(3):
        assert screen(clean, attempt(t.id, email=f"s{n}@example.com"), clock).decision is Decision.ALLOW
        risk.record_decline(clean.redis, risk=attempt(t.id), clock=clock)
    blocked = screen(clean, attempt(t.id, email="new@example.com", **next_attempt), clock)
    assert (blocked.decision, blocked.reasons) == (Decision.BLOCK, (reason,))


def test_a_payment_screened_again_after_a_crash_counts_once(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    # A worker SIGKILLed after screening runs the job again: same payment, same attempt.
    t = make.tenants()
    configure(clean, t.id, max_attempts_per_card_hour=1, max_declines_per_card_hour=1)
    payment = attempt(t.id, attempt_id="pay_1")
    for _ in range(5):
        assert screen(clean, payment, clock).decision is Decision.ALLOW
    assert screen(clean, attempt(t.id, attempt_id="pay_2"), clock).reasons == ("velocity_card",)
    other = make.tenants()
    configure(clean, other.id, max_declines_per_session=2)
    for _ in range(3):
        risk.record_decline(clean.redis, risk=attempt(other.id, attempt_id="pay_3"), clock=clock)
    assert screen(clean, attempt(other.id, attempt_id="pay_4"), clock).decision is Decision.ALLOW


def test_declines_of_one_tenant_do_not_count_for_another(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    a, b = make.tenants(), make.tenants()
    for _ in range(DEFAULT_SETTINGS["max_declines_per_card_hour"]):
        risk.record_decline(clean.redis, risk=attempt(a.id), clock=clock)
    assert "card_testing_card" in screen(clean, attempt(a.id), clock).reasons
    assert screen(clean, attempt(b.id), clock).decision is Decision.ALLOW


def test_redis_holds_no_email_ip_or_fingerprint_in_the_clear(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    t = make.tenants()
    screen(clean, attempt(t.id), clock)
    risk.record_decline(clean.redis, risk=attempt(t.id), clock=clock)
    keys = [k.decode() if isinstance(k, bytes) else k for k in clean.redis.scan_iter("kassa:risk:*")]
    assert len(keys) == 6  # attempts per card, email, IP; declines per session, IP, card
    for key in keys:
        for secret in (EMAIL, EMAIL.lower(), IP, FINGERPRINT):
            assert secret not in key
        assert 0 < clean.redis.ttl(key) <= 2 * 24 * 3600


# -- block list --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("email", "SHOPPER.one@example.com ", "blocked_email"),
        ("ip", IP, "blocked_ip"),
        ("ip", f"::ffff:{IP}", "blocked_ip"),
        ("card", FINGERPRINT, "blocked_card"),
        ("bin", "424242", "blocked_bin"),  # a 6-digit BIN covers the card's 8-digit one
        ("bin", "42424242", "blocked_bin"),
        ("country", "de", "blocked_country"),
    ],
)
def test_each_block_list_kind_blocks(
    make: Factories, clean: Runtime, clock: FrozenClock, kind: str, value: str, reason: str
) -> None:
    t, other = make.tenants(), make.tenants()
    block(clean, t.id, kind, value, clock)
    result = screen(clean, attempt(t.id), clock)
    assert (result.decision, result.reasons) == (Decision.BLOCK, (reason,))
    # Another tenant's block list is its own.
    assert screen(clean, attempt(other.id), clock).decision is Decision.ALLOW


def test_a_bin_block_does_not_catch_other_bins(make: Factories, clean: Runtime, clock: FrozenClock) -> None:
    t = make.tenants()
    block(clean, t.id, "bin", "42424243", clock)
    assert screen(clean, attempt(t.id), clock).decision is Decision.ALLOW


def test_blocked_countries_setting_blocks_cards_issued_there(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    t = make.tenants()
    assert configure(clean, t.id, blocked_countries=["kp", "DE", "de"])["blocked_countries"] == ["DE", "KP"]
    assert screen(clean, attempt(t.id), clock).reasons == ("blocked_country",)
    assert screen(clean, attempt(t.id, card_country="FR"), clock).decision is Decision.ALLOW


def test_block_wins_over_review_and_every_reason_is_listed(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    t = make.tenants()
    block(clean, t.id, "email", EMAIL, clock)
    block(clean, t.id, "country", "DE", clock)
    result = screen(clean, attempt(t.id, amount=600_000), clock)
    assert result.decision is Decision.BLOCK
    assert result.reasons == ("amount_needs_review", "blocked_email", "blocked_country")


def test_block_list_stores_hashes_not_personal_data(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    t = make.tenants()
    for kind, value in (
        ("email", EMAIL),
        ("ip", IP),
        ("card", FINGERPRINT),
        ("bin", "400000"),
        ("country", "FR"),
    ):
        block(clean, t.id, kind, value, clock)
    with clean.db.unit_of_work(tenant_id=t.id) as uow:
        stored = {(b.kind, b.value) for b in uow.session.scalars(select(RiskBlock))}
    values = {value for _, value in stored}
    assert not values & {EMAIL, EMAIL.lower(), IP, FINGERPRINT}
    assert (BlockKind.BIN, "400000") in stored and (BlockKind.COUNTRY, "FR") in stored
    assert all(len(v) == 64 for k, v in stored if k in (BlockKind.EMAIL, BlockKind.IP, BlockKind.CARD))


def test_block_list_add_list_remove(make: Factories, clean: Runtime, clock: FrozenClock) -> None:
    t = make.tenants()
    first = block(clean, t.id, "email", EMAIL, clock)
    assert first.id.startswith("blk_")
    assert block(clean, t.id, "email", EMAIL.upper(), clock).id == first.id  # already there: the same entry
    second = block(clean, t.id, "ip", IP, clock)
    with clean.db.unit_of_work(tenant_id=t.id) as uow:
        assert [b.id for b in risk.list_blocks(uow.session, tenant_id=t.id)] == [first.id, second.id]
        only_ips = risk.list_blocks(uow.session, tenant_id=t.id, kind="ip")
        assert [b.as_api()["kind"] for b in only_ips] == ["ip"]
        risk.remove_block(uow.session, tenant_id=t.id, block_id=first.id)
    assert screen(clean, attempt(t.id), clock).reasons == ("blocked_ip",)
    with clean.db.unit_of_work(tenant_id=t.id) as uow, pytest.raises(NotFound):
        risk.remove_block(uow.session, tenant_id=t.id, block_id=first.id)


def test_another_tenants_block_cannot_be_removed(make: Factories, clean: Runtime, clock: FrozenClock) -> None:
    a, b = make.tenants(), make.tenants()
    entry = block(clean, a.id, "email", EMAIL, clock)
    with clean.db.unit_of_work(tenant_id=b.id) as uow, pytest.raises(NotFound):
        risk.remove_block(uow.session, tenant_id=b.id, block_id=entry.id)
    with clean.db.unit_of_work(tenant_id=b.id) as uow, pytest.raises(TenantMismatch):
        risk.list_blocks(uow.session, tenant_id=a.id)


@pytest.mark.parametrize(
    ("kind", "value", "param"),
    [
        ("phone", "+49 30 1234", "kind"),
        ("email", "not-an-email", "value"),
        ("ip", "300.1.1.1", "value"),
        ("bin", "4242", "value"),
        ("bin", "42424x", "value"),
        ("country", "XX", "value"),
        ("card", "", "value"),
    ],
)
def test_bad_block_list_entries_are_refused(
    make: Factories, clean: Runtime, clock: FrozenClock, kind: str, value: str, param: str
) -> None:
    t = make.tenants()
    with pytest.raises(InvalidInput) as refused:
        block(clean, t.id, kind, value, clock)
    assert refused.value.param == param


# -- settings ----------------------------------------------------------------------------------------


def test_settings_default_then_change(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    with clean.db.unit_of_work(tenant_id=t.id) as uow:
        assert risk.get_settings(uow.session, tenant_id=t.id) == DEFAULT_SETTINGS
    changed = configure(clean, t.id, review_amount=100_000, max_declines_per_session=2)
    assert changed == {**DEFAULT_SETTINGS, "review_amount": 100_000, "max_declines_per_session": 2}
    assert configure(clean, t.id, max_amount=5) == {**changed, "max_amount": 5}


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"max_amount": -1}, "max_amount"),
        ({"review_amount": 1.5}, "review_amount"),
        ({"max_attempts_per_ip_hour": True}, "max_attempts_per_ip_hour"),
        ({"max_declines_per_session": "5"}, "max_declines_per_session"),
        ({"max_attempts_per_card_hour": 10**7}, "max_attempts_per_card_hour"),
        ({"blocked_countries": ["DE", "Narnia"]}, "blocked_countries"),
        ({"blocked_countries": "DE"}, "blocked_countries"),
        ({"risk_appetite": "high"}, "risk_appetite"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(
    make: Factories, clean: Runtime, changes: dict[str, Any], param: str
) -> None:
    t = make.tenants()
    configure(clean, t.id, max_amount=7)
    with pytest.raises(InvalidInput) as refused:
        # A valid change beside the bad one: all or nothing.
        configure(clean, t.id, **({"review_amount": 1} | changes))
    assert refused.value.param == param
    with clean.db.unit_of_work(tenant_id=t.id) as uow:
        assert risk.get_settings(uow.session, tenant_id=t.id) == {**DEFAULT_SETTINGS, "max_amount": 7}


# -- Redis outage ------------------------------------------------------------------------------------


def test_screening_answers_without_redis(make: Factories, clean: Runtime, clock: FrozenClock) -> None:
    t = make.tenants()
    # No retries: redis-py's default policy (10 retries with back-off) would only make the test slow.
    down = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    started = time.monotonic()
    result = screen(clean, attempt(t.id), clock, client=down)
    assert (result.decision, result.reasons) == (Decision.REVIEW, ("velocity_unavailable",))
    risk.record_decline(down, risk=attempt(t.id), clock=clock)  # best effort: no exception
    # The database rules still apply in full.
    block(clean, t.id, "email", EMAIL, clock)
    blocked = screen(clean, attempt(t.id), clock, client=down)
    assert (blocked.decision, blocked.reasons) == (Decision.BLOCK, ("blocked_email", "velocity_unavailable"))
    assert time.monotonic() - started < 5
