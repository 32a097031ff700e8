"""/api/v1/locality_rules: create, read, change, delete (audited, tenant-private), and what is in force."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth

RULES = "/api/v1/locality_rules"


def post_rule(client: FlaskClient, tenant: MadeTenant, **body: Any) -> Any:
    return client.post(RULES, json=body, headers=auth(tenant.keys.secret_key))


def in_force(client: FlaskClient, tenant: MadeTenant, country: str, currency: str) -> dict[str, Any]:
    response = client.get(
        f"/api/v1/checkout/locality_rules?country={country}&currency={currency}",
        headers=auth(tenant.keys.secret_key),
    )
    assert response.status_code == 200, response.json
    return dict(response.json)


def test_create_read_change_delete(client: FlaskClient, make: Factories, rt: Runtime) -> None:
    tenant = make.tenants()
    headers = auth(tenant.keys.secret_key)
    created = post_rule(
        client,
        tenant,
        country="nl",
        methods=["bank", "card"],
        amount_limits=[{"currency": "eur", "max": 50000}],
    )
    assert created.status_code == 201, created.json
    rule = created.json
    assert rule["id"].startswith("lrule_") and rule["object"] == "locality_rule"
    assert rule["country"] == "NL" and rule["methods"] == ["bank", "card"]
    assert rule["amount_limits"] == [{"currency": "EUR", "max": 50000}]
    assert rule["surcharge_bps"] is None and rule["three_ds"] is None and rule["default_language"] is None
    assert client.get(f"{RULES}/{rule['id']}", headers=headers).json == rule
    assert [r["id"] for r in client.get(RULES, headers=headers).json["data"]] == [rule["id"]]

    changed = client.patch(
        f"{RULES}/{rule['id']}", json={"three_ds": "required", "methods": None}, headers=headers
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["three_ds"] == "required" and changed.json["methods"] is None
    assert changed.json["amount_limits"] == rule["amount_limits"]  # untouched fields stay

    deleted = client.delete(f"{RULES}/{rule['id']}", headers=headers)
    assert deleted.status_code == 200 and deleted.json == {
        "id": rule["id"],
        "object": "locality_rule",
        "deleted": True,
    }
    assert client.get(f"{RULES}/{rule['id']}", headers=headers).status_code == 404
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        actions = [
            e.action
            for e in uow.session.scalars(select(AuditEvent).where(AuditEvent.subject_id == rule["id"]))
        ]
    assert actions == ["locality_rule.created", "locality_rule.updated", "locality_rule.deleted"]


def test_one_rule_per_country_and_the_conflict_names_it(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    first = post_rule(client, tenant, country="*", three_ds="required").json
    again = post_rule(client, tenant, country="*", methods=["card"])
    assert again.status_code == 409
    assert first["id"] in again.json["error"]["message"] and again.json["error"]["param"] == "country"


def test_bad_input_is_a_400_with_the_param(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    for body, param in (
        ({"methods": ["card"]}, "country"),
        ({"country": "DE", "surcharge_bps": 150}, "surcharge_bps"),
        ({"country": "US", "surcharge_bps": 500}, "surcharge_bps"),
        ({"country": "US", "three_ds": "sometimes"}, "three_ds"),
        ({"country": "US", "amount_limits": [{"currency": "USD", "min": 900, "max": 100}]}, "amount_limits"),
        ({"country": "US", "id": "lrule_x"}, "id"),
        ({"country": "ZZ"}, "country"),
    ):
        response = post_rule(client, tenant, **body)
        assert response.status_code == 400, (body, response.json)
        assert response.json["error"]["param"] == param, (body, response.json)
    assert client.get(RULES, headers=auth(tenant.keys.secret_key)).json["data"] == []
    rule = post_rule(client, tenant, country="US").json
    changed = client.patch(
        f"{RULES}/{rule['id']}", json={"country": "CA"}, headers=auth(tenant.keys.secret_key)
    )
    assert changed.status_code == 400 and changed.json["error"]["param"] == "country"


def test_another_tenants_rule_is_not_found(client: FlaskClient, make: Factories) -> None:
    owner, intruder = make.tenants(), make.tenants()
    rule = post_rule(client, owner, country="FR", methods=["card"]).json
    headers = auth(intruder.keys.secret_key)
    assert client.get(f"{RULES}/{rule['id']}", headers=headers).status_code == 404
    assert (
        client.patch(f"{RULES}/{rule['id']}", json={"methods": ["bank"]}, headers=headers).status_code == 404
    )
    assert client.delete(f"{RULES}/{rule['id']}", headers=headers).status_code == 404
    assert client.get(RULES, headers=headers).json["data"] == []
    assert client.get(f"{RULES}/{rule['id']}", headers=auth(owner.keys.secret_key)).json["methods"] == [
        "card"
    ]


def test_what_is_in_force_merges_defaults_and_rules(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    us = in_force(client, tenant, "US", "USD")
    assert us["required_fields"] == ["postal_code"] and us["three_ds"] == "automatic"
    assert us["methods"] == ["card", "wallet", "bank"] and us["surcharge_bps"] == 0
    post_rule(client, tenant, country="*", surcharge_bps=200, default_language="de")
    post_rule(client, tenant, country="US", required_fields=["postal_code", "email"], methods=["card"])
    us = in_force(client, tenant, "US", "USD")
    assert us["required_fields"] == ["email", "postal_code"] and us["methods"] == ["card"]
    assert us["surcharge_bps"] == 200 and us["default_language"] == "de"
    assert in_force(client, tenant, "DE", "EUR")["surcharge_bps"] == 0  # the EU forbids card surcharges
    missing = client.get("/api/v1/checkout/locality_rules?country=US", headers=auth(tenant.keys.secret_key))
    assert missing.status_code == 400 and missing.json["error"]["param"] == "currency"


def test_a_session_the_shopper_could_not_pay_is_refused_at_once(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()  # a German tenant: its sessions' shoppers are in DE unless they say otherwise
    post_rule(client, tenant, country="DE", methods=["bank"], amount_limits=[{"currency": "EUR", "min": 500}])
    headers = auth(tenant.keys.secret_key)
    small = client.post("/api/v1/checkout/sessions", json={"amount": 499, "currency": "EUR"}, headers=headers)
    assert small.status_code == 400 and small.json["error"]["param"] == "amount"
    assert "at least €5.00" in small.json["error"]["message"]
    cards = {"amount": 900, "currency": "EUR", "payment_methods": ["card"]}
    only_cards = client.post("/api/v1/checkout/sessions", json=cards, headers=headers)
    assert only_cards.status_code == 400 and only_cards.json["error"]["param"] == "payment_methods"
    elsewhere = client.post(
        "/api/v1/checkout/sessions", json={"amount": 499, "currency": "EUR", "country": "FR"}, headers=headers
    )
    assert elsewhere.status_code == 201  # the DE rule says nothing of French shoppers
    assert client.get("/api/v1/checkout/sessions", headers=headers).json["data"] == [elsewhere.json]
