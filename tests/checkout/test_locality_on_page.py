"""The hosted page applies the tenant's locality rules, and the payment service enforces the same rules."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from core.errors import InvalidInput
from core.jobs.runtime import Runtime
from core.payments.service import SessionNotOpen
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import (
    CARD_FORM,
    answer,
    auth,
    confirm,
    create_session,
    load,
    page_text,
    submit_pay_form,
    work_until_settled,
)
from tests.portal.test_sign_in import sign_in
from tests.smtp_server import SmtpServer


def rule(client: FlaskClient, tenant: MadeTenant, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/locality_rules", json=body, headers=auth(tenant.keys.secret_key))
    assert response.status_code == 201, response.json
    return dict(response.json)


def tabs(page: str) -> list[str]:
    return re.findall(r'class="method-tab"[^>]*>([^<]+)<', page)


def test_only_the_methods_the_rules_allow_are_offered(
    client: FlaskClient, make: Factories, rt: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    rule(client, tenant, country="DE", methods=["bank", "card"])
    page = page_text(client.get(f"/pay/{cs['id']}"))
    assert tabs(page) == ["Card", "Online banking"]  # the session's order, without the wallet
    wallet = client.get(f"/pay/{cs['id']}?method=wallet")
    assert 'aria-current="page">Card<' in wallet.get_data(as_text=True)  # an unoffered method falls back
    with pytest.raises(InvalidInput) as refused:
        confirm(rt, tenant, cs["id"], method="wallet")
    assert refused.value.param == "method"


def test_an_amount_outside_the_limits_gets_a_clear_page_and_no_payment(
    client: FlaskClient, make: Factories, rt: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant, amount=2500, cancel_url="https://shop.example/cart")
    opened = client.get(f"/pay/{cs['id']}").get_data(as_text=True)  # the shopper opened it before the change
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', opened)
    assert token is not None
    rule(client, tenant, country="*", amount_limits=[{"currency": "EUR", "max": 2000}])
    response = client.get(f"/pay/{cs['id']}")
    assert response.status_code == 422
    page = page_text(response)
    assert "This payment can't be made here" in page and "at most €20.00" in page
    assert "Nothing was charged" in page and 'name="number"' not in page
    german = page_text(client.get(f"/pay/{cs['id']}", headers={"Accept-Language": "de"}))
    assert "Dieser Shop nimmt hier Zahlungen bis 20,00 € an." in german
    stale = client.post(f"/pay/{cs['id']}", data={"csrf_token": token.group(1), **CARD_FORM})
    assert stale.status_code == 422
    with pytest.raises(SessionNotOpen, match=re.escape("at most €20.00")):
        confirm(rt, tenant, cs["id"])
    listed = client.get(f"/api/v1/payments?checkout_session={cs['id']}", headers=auth(tenant.keys.secret_key))
    assert listed.json["data"] == []


def test_a_card_surcharge_is_shown_charged_and_recorded(
    client: FlaskClient, make: Factories, rt: Runtime
) -> None:
    tenant = make.tenants(country="US", currency="USD")
    rule(client, tenant, country="US", surcharge_bps=150)
    cs = create_session(client, tenant, amount=2500, currency="USD")
    page = page_text(client.get(f"/pay/{cs['id']}"))
    assert "Card surcharge (1.5%)" in page and "$0.38" in page  # 37.5 cents, rounded half up
    assert "Pay $25.38" in page
    wallet = page_text(client.get(f"/pay/{cs['id']}?method=wallet"))
    assert "surcharge" not in wallet and "Pay $25.00" in wallet  # cards only
    posted = submit_pay_form(client, cs["id"], postal_code="94103")
    assert posted.status_code == 303, page_text(posted)
    payment_id = posted.location.rsplit("/", 1)[1]
    assert str(work_until_settled(rt, tenant, payment_id).status) == "succeeded"
    shown = client.get(f"/api/v1/payments/{payment_id}", headers=auth(tenant.keys.secret_key)).json
    assert (shown["amount"], shown["surcharge"], shown["amount_captured"]) == (2538, 38, 2538)
    sign_in(client, tenant)
    portal = page_text(client.get(f"/portal/payments/{payment_id}"))
    assert "$25.38" in portal and "Card surcharge" in portal and "$0.38 (included)" in portal
    assert shown["statement_descriptor"] in portal  # what the shopper's statement shows


def test_required_fields_are_asked_for_and_enforced(
    client: FlaskClient, make: Factories, rt: Runtime
) -> None:
    tenant = make.tenants(country="US", currency="USD")  # US cards: postal code, built in
    rule(client, tenant, country="US", required_fields=["postal_code", "email"])
    cs = create_session(client, tenant, currency="USD")
    page = client.get(f"/pay/{cs['id']}").get_data(as_text=True)
    assert 'name="postal_code"' in page and re.search(r'<input[^>]*name="email"[^>]*required', page)
    missing = page_text(submit_pay_form(client, cs["id"]))
    assert "Enter your email address for the receipt." in missing
    no_postal_code = page_text(submit_pay_form(client, cs["id"], email="ada@example.com"))
    assert "Enter the postal code of your billing address." in no_postal_code
    bad_email = page_text(submit_pay_form(client, cs["id"], email="ada@", postal_code="94103"))
    assert "Enter a valid email address" in bad_email
    listed = client.get(f"/api/v1/payments?checkout_session={cs['id']}", headers=auth(tenant.keys.secret_key))
    assert listed.json["data"] == []  # three refusals, nothing created
    posted = submit_pay_form(client, cs["id"], email="Ada@Example.com", postal_code="94103")
    assert posted.status_code == 303
    payment = load(rt, tenant, posted.location.rsplit("/", 1)[1])
    assert payment.customer_email == "ada@example.com"


def test_a_session_with_an_email_needs_no_email_field(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    rule(client, tenant, country="*", required_fields=["email"])
    cs = create_session(client, tenant, customer_email="ada@example.com")
    assert 'name="email"' not in client.get(f"/pay/{cs['id']}").get_data(as_text=True)
    assert submit_pay_form(client, cs["id"]).status_code == 303


def test_without_a_rule_4242_succeeds_frictionless_even_in_an_sca_country(
    client: FlaskClient, make: Factories, rt: Runtime
) -> None:
    tenant = make.tenants()  # DE
    payment_id = confirm(rt, tenant, create_session(client, tenant)["id"])
    assert str(work_until_settled(rt, tenant, payment_id).status) == "succeeded"


def test_a_rule_requiring_3ds_challenges_every_card(
    client: FlaskClient, make: Factories, rt: Runtime
) -> None:
    tenant = make.tenants()
    rule(client, tenant, country="DE", three_ds="required")
    passed = confirm(rt, tenant, create_session(client, tenant)["id"])
    challenged = work_until_settled(rt, tenant, passed)
    assert str(challenged.status) == "requires_action" and str(challenged.action_type) == "three_ds"
    answer(rt, tenant, passed, "passed")
    assert str(work_until_settled(rt, tenant, passed).status) == "succeeded"
    failed = confirm(rt, tenant, create_session(client, tenant)["id"])
    work_until_settled(rt, tenant, failed)
    answer(rt, tenant, failed, "failed")
    done = work_until_settled(rt, tenant, failed)
    assert (str(done.status), done.failure_code) == ("failed", "authentication_failed")
    wallet = confirm(rt, tenant, create_session(client, tenant)["id"], method="wallet")
    assert str(work_until_settled(rt, tenant, wallet).action_type) == "wallet_approval"  # not cards: no 3DS
    french = confirm(rt, tenant, create_session(client, tenant, country="FR")["id"])
    assert str(work_until_settled(rt, tenant, french).status) == "succeeded"  # the rule is for DE


def test_the_default_language_applies_when_neither_session_nor_browser_chooses(
    client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    assert "Card number" in page_text(client.get(f"/pay/{cs['id']}", headers={"Accept-Language": ""}))
    rule(client, tenant, country="DE", default_language="de")
    for accept in ("", "ja-JP,ja;q=0.9"):
        page = page_text(client.get(f"/pay/{cs['id']}", headers={"Accept-Language": accept}))
        assert "Kartennummer" in page, accept
    assert "Card number" in page_text(client.get(f"/pay/{cs['id']}", headers={"Accept-Language": "en-GB"}))
    french = create_session(client, tenant, locale="fr")
    assert "Numéro de carte" in page_text(
        client.get(f"/pay/{french['id']}", headers={"Accept-Language": "de"})
    )


def test_the_emailed_receipt_shows_the_surcharge_and_the_total(
    client: FlaskClient, make: Factories, rt: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants(name="Corner Store", country="US", currency="USD")
    rule(client, tenant, country="*", surcharge_bps=300)
    cs = create_session(client, tenant, amount=1000, currency="USD", customer_email="ada@example.com")
    posted = submit_pay_form(client, cs["id"], postal_code="94103")
    assert posted.status_code == 303
    assert str(work_until_settled(rt, tenant, posted.location.rsplit("/", 1)[1]).status) == "succeeded"
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    for text in (delivery.text("plain"), html.unescape(delivery.text("html"))):
        assert "Card surcharge" in text and "$0.30" in text and "$10.30" in text
    receipt = page_text(client.get(f"/pay/{cs['id']}/receipt"))
    assert "Card surcharge" in receipt and "$0.30" in receipt and "$10.30" in receipt
