from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.context import Actor
from core.jobs import runtime as runtime_module
from core.jobs.runtime import Runtime
from core.payments import jobs as payment_jobs
from core.risk import service as risk
from tenants.models import KeyKind, KeyMode
from tenants.service import issue_key
from tests.fixtures import Factories
from tests.payments_helpers import auth, confirm, create_session, work_until_settled


def test_a_session_has_the_contract_shape(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    cs = create_session(
        client,
        tenant,
        amount=1050,
        currency="eur",
        reference="order-17",
        locale="de",
        customer_email="Ann@Example.com",
        success_url="https://shop.example/thanks",
        metadata={"order": "17"},
        capture="manual",
    )
    assert cs["id"].startswith("cs_") and cs["url"].endswith(f"/pay/{cs['id']}")
    assert (cs["status"], cs["amount"], cs["currency"], cs["locale"]) == ("open", 1050, "EUR", "de")
    assert (cs["customer_email"], cs["capture"], cs["payment"], cs["livemode"]) == (
        "ann@example.com",
        "manual",
        None,
        False,
    )
    assert cs["payment_methods"] == ["card", "wallet", "bank"] and cs["metadata"] == {"order": "17"}
    assert cs["expires_at"] > cs["created_at"]
    again = client.get(f"/api/v1/checkout/sessions/{cs['id']}", headers=auth(tenant.keys.secret_key)).json
    assert again == cs


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"currency": "EUR"}, "amount"),
        ({"amount": 100}, "currency"),
        ({"amount": 0, "currency": "EUR"}, "amount"),
        ({"amount": 10.5, "currency": "EUR"}, "amount"),
        ({"amount": 100, "currency": "EURO"}, "currency"),
        ({"amount": 100, "currency": "XTS"}, "currency"),
        ({"amount": 100, "currency": "EUR", "success_url": "javascript:alert(1)"}, "success_url"),
        ({"amount": 100, "currency": "EUR", "customer_email": "nope"}, "customer_email"),
        ({"amount": 100, "currency": "EUR", "country": "ZZ"}, "country"),
        ({"amount": 100, "currency": "EUR", "payment_methods": ["crypto"]}, "payment_methods"),
        ({"amount": 100, "currency": "EUR", "expires_at": 1}, "expires_at"),
        ({"amount": 100, "currency": "EUR", "metadata": {"k": 1}}, "metadata"),
        ({"amount": 100, "currency": "EUR", "surprise": True}, "surprise"),
    ],
)
def test_bad_sessions_are_refused_naming_the_field(
    client: FlaskClient, make: Factories, body: dict[str, object], param: str
) -> None:
    tenant = make.tenants()
    response = client.post("/api/v1/checkout/sessions", json=body, headers=auth(tenant.keys.secret_key))
    assert response.status_code == 400, response.json
    assert response.json["error"]["param"] == param and response.json["error"]["message"]
    assert client.get("/api/v1/checkout/sessions", headers=auth(tenant.keys.secret_key)).json["data"] == []


def test_methods_turned_off_in_settings_cannot_be_offered(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    client.patch("/api/v1/checkout/settings", json={"payment_methods": ["card"]}, headers=key)
    assert create_session(client, tenant)["payment_methods"] == ["card"]
    response = client.post(
        "/api/v1/checkout/sessions",
        json={"amount": 100, "currency": "EUR", "payment_methods": ["wallet"]},
        headers=key,
    )
    assert response.status_code == 400 and "turned off" in response.json["error"]["message"]


def test_expire_an_open_session_but_not_a_paid_one(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    cs = create_session(client, tenant)
    expired = client.post(f"/api/v1/checkout/sessions/{cs['id']}/expire", json={}, headers=key)
    assert expired.status_code == 200 and expired.json["status"] == "expired"
    paid = make.payments(tenant=tenant).checkout_session_id
    refused = client.post(f"/api/v1/checkout/sessions/{paid}/expire", json={}, headers=key)
    assert refused.status_code == 409


def test_another_tenants_objects_are_not_found(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants()
    payment = make.payments(tenant=a)
    payment_id = payment.id
    other = auth(b.keys.secret_key)
    for url in (f"/api/v1/checkout/sessions/{payment.checkout_session_id}", f"/api/v1/payments/{payment_id}"):
        response = client.get(url, headers=other)
        assert response.status_code == 404 and response.json["error"]["code"] == "resource_missing"
    refund = client.post("/api/v1/refunds", json={"payment": payment_id}, headers=other)
    assert refund.status_code == 404
    assert client.get("/api/v1/events", headers=other).json["data"] == []


def test_live_keys_get_a_clear_error_while_no_live_processor_exists(
    make: Factories, clean: Runtime, client: FlaskClient
) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        live = issue_key(
            uow.session,
            clean.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            kind=KeyKind.SECRET,
            mode=KeyMode.LIVE,
        )
    response = client.post(
        "/api/v1/checkout/sessions", json={"amount": 100, "currency": "EUR"}, headers=auth(live)
    )
    assert response.status_code == 400 and response.json["error"]["code"] == "livemode_unavailable"
    # Test objects stay invisible to the live key, and the other way round.
    create_session(client, tenant)
    assert client.get("/api/v1/checkout/sessions", headers=auth(live)).json["data"] == []


def test_a_blocked_payment_fails_without_reaching_the_processor(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        risk.add_block(
            uow.session, tenant_id=tenant.id, kind="email", value="mallory@example.com", clock=clean.clock
        )
    cs = create_session(client, tenant, customer_email="mallory@example.com")
    payment_id = confirm(clean, tenant, cs["id"])
    payment = work_until_settled(clean, tenant, payment_id)
    assert (str(payment.status), payment.failure_code) == ("failed", "risk_blocked")
    api = client.get(f"/api/v1/payments/{payment_id}", headers=auth(tenant.keys.secret_key)).json
    assert api["risk"] == {"decision": "block", "reasons": ["blocked_email"]}
    assert clean.processor(False).charges(payment_id) == 0  # type: ignore[attr-defined]


def test_a_blocked_bin_stops_cards_of_that_issuer(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        risk.add_block(uow.session, tenant_id=tenant.id, kind="bin", value="555555", clock=clean.clock)
    blocked = confirm(clean, tenant, create_session(client, tenant)["id"], card_number="5555 5555 5555 4444")
    allowed = confirm(clean, tenant, create_session(client, tenant)["id"], card_number="4242 4242 4242 4242")
    assert work_until_settled(clean, tenant, blocked).risk_reasons == ["blocked_bin"]
    assert str(work_until_settled(clean, tenant, allowed).status) == "succeeded"


def test_the_sweeper_expires_overdue_sessions_with_an_event_and_an_audit_row(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    cs = create_session(client, tenant)
    later = dataclasses.replace(clean, clock=FrozenClock(clean.clock.now() + timedelta(days=2)))
    runtime_module.install(later)
    try:
        payment_jobs.sweep_payments()
    finally:
        runtime_module.install(clean)
    assert client.get(f"/api/v1/checkout/sessions/{cs['id']}", headers=key).json["status"] == "expired"
    events = client.get(f"/api/v1/events?object={cs['id']}", headers=key).json["data"]
    assert [event["type"] for event in events] == ["checkout.session.expired", "checkout.session.created"]
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        rows = uow.session.scalars(select(AuditEvent).where(AuditEvent.subject_id == cs["id"])).all()
        assert [(row.action, row.actor_id) for row in rows][-1] == ("checkout.session.expired", "expiry")
