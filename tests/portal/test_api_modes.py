"""Test and live are separate worlds: what a test key configures never reaches a live checkout (and the
other way round), and an Idempotency-Key of one mode never replays the other's answer."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from core.context import Actor
from core.jobs.runtime import Runtime
from core.payments import sessions
from core.payments.models import Payment
from tenants import checkout_settings
from tenants.models import KeyKind, KeyMode
from tenants.service import issue_key
from tests.branding_images import data_url, png
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, page_text, submit_pay_form

RULE = {
    "country": "US",
    "surcharge_bps": 300,
    "three_ds": "required",
    "methods": ["card"],
    "amount_limits": [{"currency": "USD", "max": 500}],
}
SETTINGS = {
    "allowed_origins": ["https://configured-shop.example"],
    "statement_descriptor": "CONFIGURED DESCRIPTOR",
    "display_name": "Configured Name",
    "payment_methods": ["card"],
    "logo": data_url(png()),
}


def live_key(rt: Runtime, tenant: MadeTenant, kind: KeyKind = KeyKind.SECRET) -> str:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return issue_key(
            uow.session,
            rt.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            kind=kind,
            mode=KeyMode.LIVE,
        )


def configure(client: FlaskClient, key: str) -> None:
    """Everything a key can set that changes a payment: a surcharge, 3DS, limits, methods; origins,
    descriptor, name, logo."""
    rule = client.post("/api/v1/locality_rules", json=RULE, headers=auth(key))
    assert rule.status_code == 201, rule.json
    patched = client.patch("/api/v1/checkout/settings", json=SETTINGS, headers=auth(key))
    assert patched.status_code == 200, patched.json


def make_session(rt: Runtime, tenant: MadeTenant, *, livemode: bool, amount: int = 10_000) -> str:
    """A checkout session in either mode, made the way the API makes one (live mode has no processor
    yet, so the API refuses live sessions; the checkout itself works in both modes)."""
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = checkout_settings.session_terms(uow.session, tenant_id=tenant.id, livemode=livemode)
        cs = sessions.create(
            uow.session,
            rt.context(uow, Actor.system("test")),
            terms=ctx,
            data={"amount": amount, "currency": "USD", "country": "US"},
        )
        return cs.id


def assert_unconfigured(
    client: FlaskClient, rt: Runtime, tenant: MadeTenant, *, key: str, livemode: bool
) -> None:
    """The key of the other mode, its API view and its checkouts show none of `configure`'s effects."""
    assert client.get("/api/v1/locality_rules", headers=auth(key)).json["data"] == []
    shown = client.get("/api/v1/checkout/settings", headers=auth(key)).json
    assert shown["livemode"] is livemode
    assert shown["allowed_origins"] == [] and shown["statement_descriptor"] is None and shown["logo"] is None
    assert shown["payment_methods"] == ["card", "wallet", "bank"]
    assert shown["display_name"] == tenant.tenant.name
    in_force = client.get("/api/v1/checkout/locality_rules?country=US&currency=USD", headers=auth(key)).json
    assert in_force["surcharge_bps"] == 0 and in_force["three_ds"] == "automatic"
    assert in_force["methods"] == ["card", "wallet", "bank"] and in_force["max_amount"] is None

    # 10,000 USD: above the configured 5.00 limit, which is not this mode's.
    session_id = make_session(rt, tenant, livemode=livemode)
    page = client.get(f"/pay/{session_id}")
    assert page.status_code == 200
    text = page_text(page)
    assert "surcharge" not in text.lower()
    assert "CONFIGURED DESCRIPTOR" not in text and "Configured Name" not in text
    assert 'class="merchant-logo"' not in text
    assert client.get(f"/pay/{session_id}/logo").status_code == 404
    embed = client.get(f"/embed/{session_id}")
    assert "configured-shop.example" not in embed.headers["Content-Security-Policy"]

    paid = submit_pay_form(client, session_id, postal_code="94107")
    assert paid.status_code == 303, page_text(paid)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        payment = uow.session.scalars(select(Payment).where(Payment.checkout_session_id == session_id)).one()
        assert payment.livemode is livemode
        assert payment.amount == 10_000 and payment.surcharge == 0 and not payment.three_ds_required
        assert payment.statement_descriptor != "CONFIGURED DESCRIPTOR"
        cs = sessions.get(uow.session, session_id=session_id)
        assert cs.payment_methods == ["card", "wallet", "bank"]


def assert_configured(client: FlaskClient, rt: Runtime, tenant: MadeTenant, *, livemode: bool) -> None:
    """The mode that was configured does apply it (so the other test's negative is meaningful)."""
    session_id = make_session(rt, tenant, livemode=livemode, amount=400)
    text = page_text(client.get(f"/pay/{session_id}"))
    assert "CONFIGURED DESCRIPTOR" in text and 'class="merchant-logo"' in text and "surcharge" in text.lower()
    assert client.get(f"/pay/{session_id}/logo").status_code == 200
    embed = client.get(f"/embed/{session_id}")
    assert "https://configured-shop.example" in embed.headers["Content-Security-Policy"]


def test_a_test_key_cannot_change_what_a_live_payment_gets(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(country="US", currency="USD")
    live = live_key(clean, tenant)
    configure(client, tenant.keys.secret_key)
    assert_configured(client, clean, tenant, livemode=False)
    assert_unconfigured(client, clean, tenant, key=live, livemode=True)


def test_a_live_key_cannot_change_what_a_test_payment_gets(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(country="US", currency="USD")
    live = live_key(clean, tenant)
    configure(client, live)
    assert_configured(client, clean, tenant, livemode=True)
    assert_unconfigured(client, clean, tenant, key=tenant.keys.secret_key, livemode=False)


def test_a_rule_of_the_other_mode_is_not_found(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants(country="US", currency="USD")
    live = live_key(clean, tenant)
    rule = client.post("/api/v1/locality_rules", json={"country": "US"}, headers=auth(tenant.keys.secret_key))
    rule_id = rule.json["id"]
    assert rule.json["livemode"] is False
    for method, body in (("get", None), ("patch", {"surcharge_bps": 300}), ("delete", None)):
        answer = getattr(client, method)(f"/api/v1/locality_rules/{rule_id}", json=body, headers=auth(live))
        assert answer.status_code == 404 and answer.json["error"]["code"] == "resource_missing"
    # Each mode has its own rule for a country: the live key's rule for US is a second one.
    own = client.post("/api/v1/locality_rules", json={"country": "US"}, headers=auth(live))
    assert own.status_code == 201 and own.json["id"] != rule_id and own.json["livemode"] is True
    kept = client.get(f"/api/v1/locality_rules/{rule_id}", headers=auth(tenant.keys.secret_key)).json
    assert kept["surcharge_bps"] is None


def test_test_and_live_idempotency_keys_never_meet(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(country="US", currency="USD")
    live = live_key(clean, tenant)
    same = {"Idempotency-Key": "order-1234"}
    body: dict[str, Any] = {"country": "US", "surcharge_bps": 100}
    test_rule = client.post(
        "/api/v1/locality_rules", json=body, headers={**auth(tenant.keys.secret_key), **same}
    )
    live_rule = client.post("/api/v1/locality_rules", json=body, headers={**auth(live), **same})
    assert test_rule.status_code == live_rule.status_code == 201
    assert "Idempotent-Replayed" not in live_rule.headers
    assert live_rule.json["id"] != test_rule.json["id"]
    assert (test_rule.json["livemode"], live_rule.json["livemode"]) == (False, True)
    # Each mode still replays its own answer.
    again = client.post("/api/v1/locality_rules", json=body, headers={**auth(live), **same})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json["id"] == live_rule.json["id"]

    # The issue's case: a live request reusing a test session's key is not answered with the test session.
    session_body = {"amount": 1000, "currency": "USD"}
    key = {"Idempotency-Key": "cs-42"}
    made = client.post(
        "/api/v1/checkout/sessions", json=session_body, headers={**auth(tenant.keys.secret_key), **key}
    )
    assert made.status_code == 201
    refused = client.post("/api/v1/checkout/sessions", json=session_body, headers={**auth(live), **key})
    assert "Idempotent-Replayed" not in refused.headers
    assert refused.status_code == 400 and refused.json["error"]["code"] == "livemode_unavailable"
