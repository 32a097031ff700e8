"""A shopper pays on the hosted page in real Chromium, with the real worker behind it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]


def open_checkout(page: Page, client: FlaskClient, tenant: MadeTenant, **fields: Any) -> dict[str, Any]:
    cs = create_session(client, tenant, **{"description": "Coffee beans", **fields})
    page.goto(f"/pay/{cs['id']}")
    return cs


def fill_card(
    page: Page, number: str, expiry: str = "12 / 34", cvc: str = "123", name: str = "Ada Lovelace"
) -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry date").fill(expiry)
    page.get_by_label("Security code").fill(cvc)
    page.get_by_label("Cardholder name").fill(name)


def pay(page: Page) -> None:
    page.get_by_role("button", name=re.compile(r"^Pay")).click()


def payments_of(client: FlaskClient, tenant: MadeTenant, session_id: str) -> list[dict[str, Any]]:
    listed = client.get(
        f"/api/v1/payments?checkout_session={session_id}", headers=auth(tenant.keys.secret_key)
    )
    return list(listed.json["data"])


@pytest.mark.parametrize("card", ["4242 4242 4242 4242", "5555 5555 5555 4444", "4000 0000 0000 0119"])
def test_a_good_card_ends_on_the_receipt(page: Page, client: FlaskClient, make: Factories, card: str) -> None:
    tenant = make.tenants(name="Bean There")
    open_checkout(page, client, tenant)
    expect(page.get_by_text("€25.00").first).to_be_visible()
    fill_card(page, card)
    pay(page)
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    expect(page.get_by_text(f"···· {card[-4:]}")).to_be_visible()


def test_success_redirects_to_the_merchant_with_the_session_id(
    page: Page, client: FlaskClient, make: Factories, live_server: str
) -> None:
    tenant = make.tenants()
    cs = open_checkout(page, client, tenant, success_url=f"{live_server}/healthz?order=17")
    fill_card(page, "4242424242424242")
    pay(page)
    page.wait_for_url(re.compile(r"/healthz\?"), timeout=15_000)
    assert f"session_id={cs['id']}" in page.url and "order=17" in page.url


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("4000 0000 0000 0002", "Your card was declined."),
        ("4000 0000 0000 9995", "Your card has insufficient funds."),
        ("4000 0000 0000 0069", "Your card has expired."),
    ],
)
def test_a_declined_card_says_why_and_the_shopper_can_retry(
    page: Page, client: FlaskClient, make: Factories, card: str, message: str
) -> None:
    tenant = make.tenants()
    cs = open_checkout(page, client, tenant)
    fill_card(page, card)
    pay(page)
    expect(page.get_by_role("alert")).to_contain_text(message, timeout=15_000)
    fill_card(page, "4242 4242 4242 4242")
    pay(page)
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    statuses = sorted(p["status"] for p in payments_of(client, tenant, cs["id"]))
    assert statuses == ["failed", "succeeded"]


@pytest.mark.parametrize(("button", "outcome"), [("Complete", "succeeded"), ("Fail", "failed")])
def test_3ds_challenge(page: Page, client: FlaskClient, make: Factories, button: str, outcome: str) -> None:
    tenant = make.tenants()
    cs = open_checkout(page, client, tenant)
    fill_card(page, "4000 0027 6000 3184")
    pay(page)
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible(timeout=15_000)
    page.get_by_role("button", name=button).click()
    if outcome == "succeeded":
        expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    else:
        expect(page.get_by_role("alert")).to_contain_text("could not confirm it was you", timeout=15_000)
    assert payments_of(client, tenant, cs["id"])[0]["status"] == outcome


@pytest.mark.parametrize(
    ("tab", "button", "outcome"),
    [
        ("Wallet", "Approve", "succeeded"),
        ("Wallet", "Decline", "failed"),
        ("Online banking", "Approve", "succeeded"),
    ],
)
def test_wallet_and_online_banking(
    page: Page, client: FlaskClient, make: Factories, tab: str, button: str, outcome: str
) -> None:
    tenant = make.tenants()
    cs = open_checkout(page, client, tenant)
    page.get_by_role("link", name=tab).click()
    pay(page)
    if tab == "Online banking":
        # A list of named banks, picked with the keyboard: Tab onto the list, an arrow key to the next.
        banks = page.get_by_role("group", name="Bank").get_by_role("radio")
        expect(banks.first).to_be_checked(timeout=15_000)
        assert banks.count() > 1
        second = page.locator(".bank-option .bank-name").nth(1).inner_text().strip()
        banks.first.focus()
        page.keyboard.press("ArrowDown")
        expect(page.get_by_role("radio", name=second)).to_be_checked()
        expect(page.get_by_role("radio", name=second)).to_be_focused()
    page.get_by_role("button", name=button).click()
    if outcome == "succeeded":
        expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
        method = f"Online banking · {second}" if tab == "Online banking" else "Wallet"
        receipt_row = page.locator(".receipt dl div", has=page.get_by_text("Payment method", exact=True))
        expect(receipt_row.locator("dd")).to_have_text(method)
    else:
        expect(page.get_by_role("alert")).to_contain_text("not approved", timeout=15_000)
    assert payments_of(client, tenant, cs["id"])[0]["status"] == outcome


def test_a_luhn_invalid_number_is_a_form_error(page: Page, client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    cs = open_checkout(page, client, tenant)
    fill_card(page, "4242 4242 4242 4241")
    pay(page)
    expect(page.get_by_text("Card number is not valid.")).to_be_visible()
    expect(page.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
    assert payments_of(client, tenant, cs["id"]) == []


def test_the_card_flow_works_without_javascript(
    browser: Browser, live_server: str, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"/pay/{cs['id']}")
        fill_card(page, "4000 0027 6000 3184")
        pay(page)
        expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible(timeout=15_000)
        page.get_by_role("button", name="Complete").click()
        expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    finally:
        context.close()


def test_double_clicking_pay_makes_one_payment(page: Page, client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    cs = open_checkout(page, client, tenant)
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile(r"^Pay")).dblclick()
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    assert len(payments_of(client, tenant, cs["id"])) == 1


def test_two_tabs_submitting_make_one_payment(
    page: Page, browser: Browser, live_server: str, client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants()
    cs = open_checkout(page, client, tenant)
    other = page.context.new_page()
    other.goto(f"{live_server}/pay/{cs['id']}")
    for tab in (page, other):
        fill_card(tab, "4242 4242 4242 4242")
    pay(page)
    pay(other)
    for tab in (page, other):
        expect(tab.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    assert len(payments_of(client, tenant, cs["id"])) == 1
