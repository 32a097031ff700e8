"""Test mode is for developers: velocity never blocks the documented test cards, and the risk test cards
trigger each risk outcome (always blocked, review, velocity), all through the real worker."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from core.clock import FrozenClock
from core.jobs import runtime as runtime_module
from core.jobs.runtime import Runtime
from core.processors import SandboxProcessor
from core.risk import service as risk
from core.risk import test_cards
from core.risk.service import Decision, RiskInput
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, confirm, create_session, load, work

DEVELOPER_IP = "127.0.0.1"


@pytest.fixture
def frozen(clean: Runtime) -> Iterator[Runtime]:
    """The runtime on a frozen clock (installed for the worker too), so 'in a minute' is exact."""
    rt = dataclasses.replace(clean, clock=FrozenClock(datetime.now(UTC).replace(minute=0, second=0)))
    runtime_module.install(rt)
    try:
        yield rt
    finally:
        runtime_module.install(clean)


def pay(
    client: FlaskClient, rt: Runtime, tenant: MadeTenant, card: str, session_id: str | None = None
) -> str:
    cs = session_id or create_session(client, tenant)["id"]
    return confirm(rt, tenant, cs, card_number=card, client_ip=DEVELOPER_IP, customer_email="dev@example.com")


def api_payment(client: FlaskClient, tenant: MadeTenant, payment_id: str) -> dict[str, object]:
    response = client.get(f"/api/v1/payments/{payment_id}", headers=auth(tenant.keys.secret_key))
    assert response.status_code == 200
    return dict(response.json)


def test_a_hundred_test_mode_payments_with_4242_from_one_ip_in_a_minute_all_succeed(
    client: FlaskClient, make: Factories, frozen: Runtime
) -> None:
    tenant = make.tenants()  # default thresholds: 10 per card and per email, 20 per IP in an hour
    clock = frozen.clock
    assert isinstance(clock, FrozenClock)
    payment_ids = []
    for _ in range(100):
        payment_ids.append(pay(client, frozen, tenant, "4242 4242 4242 4242"))
        clock.advance(seconds=0.5)
    work(frozen)
    outcomes = [api_payment(client, tenant, p) for p in payment_ids]
    assert [(p["status"], p["failure_code"]) for p in outcomes] == [("succeeded", None)] * 100
    assert all(p["risk"] == {"decision": "allow", "reasons": []} for p in outcomes)


def test_other_numbers_in_test_mode_still_meet_the_velocity_rules(
    client: FlaskClient, make: Factories, frozen: Runtime
) -> None:
    tenant = make.tenants()
    with frozen.db.unit_of_work(tenant_id=tenant.id) as uow:
        risk.update_settings(uow.session, tenant_id=tenant.id, changes={"max_attempts_per_card_hour": 2})
    other = [pay(client, frozen, tenant, "5555 5555 5555 4444") for _ in range(3)]
    documented = [pay(client, frozen, tenant, "4242 4242 4242 4242") for _ in range(5)]
    work(frozen)
    assert [str(load(frozen, tenant, p).status) for p in other] == ["succeeded", "succeeded", "failed"]
    assert load(frozen, tenant, other[-1]).risk_reasons == ["velocity_card"]
    assert {str(load(frozen, tenant, p).status) for p in documented} == {"succeeded"}


def test_declined_test_cards_do_not_add_up_to_card_testing(
    client: FlaskClient, make: Factories, frozen: Runtime
) -> None:
    # A developer tries the decline card again and again in one session (the limit is 5 declines).
    tenant = make.tenants()
    session_id = create_session(client, tenant)["id"]
    for _ in range(7):
        declined = pay(client, frozen, tenant, "4000 0000 0000 0002", session_id)
        work(frozen)
        assert load(frozen, tenant, declined).failure_code == "card_declined"
    paid = pay(client, frozen, tenant, "4242 4242 4242 4242", session_id)
    work(frozen)
    assert str(load(frozen, tenant, paid).status) == "succeeded"


@pytest.mark.parametrize(
    ("card", "status", "failure_code", "decision", "reasons"),
    [
        ("4100 0000 0000 0019", "failed", "risk_blocked", "block", ["test_card_always_blocked"]),
        ("4000 0000 0000 4954", "succeeded", None, "review", ["test_card_elevated_risk"]),
        ("4000 0000 0000 6975", "failed", "risk_blocked", "block", ["velocity_card"]),
    ],
)
def test_the_risk_test_cards_trigger_their_outcome_on_the_first_try(
    client: FlaskClient,
    make: Factories,
    frozen: Runtime,
    card: str,
    status: str,
    failure_code: str | None,
    decision: str,
    reasons: list[str],
) -> None:
    tenant = make.tenants()
    payment_id = pay(client, frozen, tenant, card)
    work(frozen)
    payment = api_payment(client, tenant, payment_id)
    assert (payment["status"], payment["failure_code"]) == (status, failure_code)
    assert payment["risk"] == {"decision": decision, "reasons": reasons}
    sandbox = frozen.processor(False)
    assert isinstance(sandbox, SandboxProcessor)
    # A blocked payment never reaches the processor; the review one is charged once.
    assert sandbox.charges(payment_id) == (1 if status == "succeeded" else 0)


def test_test_cards_are_ordinary_numbers_in_live_mode(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        risk.update_settings(uow.session, tenant_id=tenant.id, changes={"max_attempts_per_card_hour": 1})
    clock = FrozenClock(datetime(2026, 11, 22, 12, 5, tzinfo=UTC))

    def screen(card: str, *, livemode: bool) -> risk.RiskResult:
        attempt = RiskInput(
            tenant_id=tenant.id,
            session_id="cs_1",
            amount=2500,
            currency="EUR",
            fingerprint=f"fp_{card}_{livemode}",
            livemode=livemode,
            test_card=test_cards.documented(card),
        )
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            return risk.screen(uow.session, clean.redis, risk=attempt, clock=clock)

    assert screen(test_cards.ALWAYS_BLOCKED, livemode=True).decision is Decision.ALLOW
    assert screen(test_cards.ELEVATED_RISK, livemode=True).decision is Decision.ALLOW
    live = [screen("4242424242424242", livemode=True) for _ in range(2)]
    assert [r.decision for r in live] == [Decision.ALLOW, Decision.BLOCK]
    assert live[1].reasons == ("velocity_card",)
    test = [screen("4242424242424242", livemode=False) for _ in range(5)]
    assert {r.decision for r in test} == {Decision.ALLOW}


def test_amount_limits_and_block_lists_still_apply_to_test_cards(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    clock = FrozenClock(datetime(2026, 11, 22, 12, 5, tzinfo=UTC))
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        risk.add_block(uow.session, tenant_id=tenant.id, kind="ip", value=DEVELOPER_IP, clock=clock)
        attempt = RiskInput(
            tenant_id=tenant.id,
            session_id="cs_1",
            amount=2_000_000,
            currency="EUR",
            ip=DEVELOPER_IP,
            livemode=False,
            test_card=test_cards.documented("4242 4242 4242 4242"),
        )
        verdict = risk.screen(uow.session, clean.redis, risk=attempt, clock=clock)
    assert verdict.decision is Decision.BLOCK
    assert verdict.reasons == ("amount_over_limit", "blocked_ip")


def test_every_documented_test_card_is_known_to_screening() -> None:
    for number in [
        "4242 4242 4242 4242",
        "4000 0000 0000 0002",
        "4000 0000 0000 9995",
        "4000 0000 0000 0069",
        "4000 0027 6000 3184",
        "4000 0000 0000 0119",
        "4000 0000 0000 0077",
        "4000 0000 0000 0259",
        "4100 0000 0000 0019",
        "4000 0000 0000 4954",
        "4000 0000 0000 6975",
    ]:
        assert test_cards.documented(number) == number.replace(" ", "")
    assert test_cards.documented("5555 5555 5555 4444") is None
