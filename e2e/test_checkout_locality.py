"""Locality rules as a shopper meets them in real Chromium: a surcharge line, a required postal code, 3DS
required for a country, and a checkout the rules don't allow."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from e2e.test_checkout import fill_card, open_checkout, pay, payments_of
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]


def rule(client: FlaskClient, tenant: MadeTenant, **body: Any) -> None:
    response = client.post("/api/v1/locality_rules", json=body, headers=auth(tenant.keys.secret_key))
    assert response.status_code == 201, response.json


def test_a_us_shopper_sees_the_surcharge_and_gives_a_postal_code(
    page: Page, client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants(name="Corner Store", country="US", currency="USD")
    rule(client, tenant, country="US", surcharge_bps=200)
    cs = open_checkout(page, client, tenant, currency="USD", amount=5000)
    expect(page.get_by_text("Card surcharge (2%)")).to_be_visible()
    expect(page.get_by_role("button", name="Pay $51.00")).to_be_visible()
    fill_card(page, "4242 4242 4242 4242")
    pay(page)
    postal_code = page.get_by_label("Postal code")
    expect(postal_code).to_be_focused()  # the field in error takes the focus
    expect(page.get_by_text("Enter the postal code of your billing address.")).to_be_visible()
    fill_card(page, "4242 4242 4242 4242")  # the card number and security code are never echoed back
    postal_code.fill("10001")
    pay(page)
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("$51.00")).to_be_visible()
    [payment] = payments_of(client, tenant, cs["id"])
    assert (payment["status"], payment["amount"], payment["surcharge"]) == ("succeeded", 5100, 100)

    page.goto(f"/pay/{open_checkout(page, client, tenant, currency='USD')['id']}?method=wallet")
    expect(page.get_by_role("button", name="Pay $25.00")).to_be_visible()  # no surcharge off cards


def test_3ds_required_for_a_country_challenges_4242(page: Page, client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants(name="Berlin Books")
    rule(client, tenant, country="DE", three_ds="required")
    open_checkout(page, client, tenant)
    fill_card(page, "4242 4242 4242 4242")
    pay(page)
    page.get_by_role("button", name="Complete").click(timeout=15_000)
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)


@pytest.mark.error_status_expected  # the page answers 422
def test_an_amount_the_rules_refuse_shows_why(page: Page, client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants(name="Berlin Books")
    cs = open_checkout(page, client, tenant, amount=90_000)
    rule(client, tenant, country="*", amount_limits=[{"currency": "EUR", "max": 50_000}])
    page.reload()
    expect(page.get_by_role("heading", name="This payment can't be made here")).to_be_visible()
    expect(page.get_by_text("This shop accepts payments of at most €500.00 here.")).to_be_visible()
    expect(page.get_by_label("Card number")).to_have_count(0)
    assert payments_of(client, tenant, cs["id"]) == []
