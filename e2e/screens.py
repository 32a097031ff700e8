"""The screenshots of docs/screens/: the checkout's pages at 1280 and 390 px wide.

Not a check, and not collected by the suite (its name does not start with test_): run it by name to refresh
the pictures after changing how a page looks, then look at each one:

    PYTHONPATH=$PWD .venv/bin/pytest -q -p no:cacheprovider e2e/screens.py

Each picture is taken in real Chromium from a live server with the worker behind it, in test mode.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

SCREENS = Path(__file__).resolve().parent.parent / "docs" / "screens"
WIDTHS = {1280: 800, 390: 844}


def fill_card(page: Page, number: str, name: str = "Ada Lovelace") -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry date").fill("12 / 34")
    page.get_by_label("Security code").fill("123")
    page.get_by_label("Cardholder name").fill(name)


def pay(page: Page) -> None:
    page.get_by_role("button", name=re.compile(r"^Pay")).click()


def _card(page: Page) -> None:
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry date").fill("1234")
    page.get_by_label("Cardholder name").fill("Ada Lovelace")
    page.get_by_label("Security code").focus()


def _wallet(page: Page) -> None:
    page.get_by_role("link", name="Wallet").click()


def _bank(page: Page) -> None:
    page.get_by_role("link", name="Online banking").click()


def _bank_approval(page: Page) -> None:
    page.get_by_role("link", name="Online banking").click()
    pay(page)
    expect(page.get_by_role("radio").first).to_be_checked(timeout=15_000)


def _form_error(page: Page) -> None:
    page.get_by_label("Card number").fill("3782 822463 10005")
    page.get_by_label("Expiry date").fill("13 / 99")
    pay(page)
    expect(page.get_by_text("Enter the name on the card.")).to_be_visible()


def _decline(page: Page) -> None:
    fill_card(page, "4000 0000 0000 0002")
    pay(page)
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined.", timeout=15_000)


def _three_ds(page: Page) -> None:
    fill_card(page, "4000 0027 6000 3184")
    pay(page)
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible(timeout=15_000)


PAGES: dict[str, Callable[[Page], None]] = {
    "card": _card,
    "wallet": _wallet,
    "bank": _bank,
    "bank-approval": _bank_approval,
    "form-error": _form_error,
    "decline": _decline,
    "3ds": _three_ds,
}


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(PAGES))
def test_screenshot(
    browser: Browser,
    live_server: str,
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    name: str,
    width: int,
) -> None:
    tenant = make.tenants(name="Bean There")
    cs = create_session(
        client, tenant, description="Coffee beans, 1 kg", cancel_url="https://shop.example/cart"
    )
    context = browser.new_context(
        base_url=live_server,
        viewport={"width": width, "height": WIDTHS[width]},
        device_scale_factor=1,
        locale="en-GB",
    )
    try:
        page = context.new_page()
        page.goto(f"/pay/{cs['id']}")
        PAGES[name](page)
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENS / f"{name}-{width}.png"), full_page=width < 1000)
    finally:
        context.close()


def test_receipt_expired_and_404_screenshots(
    browser: Browser, live_server: str, clean: Runtime, client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants(name="Bean There")
    headers = auth(tenant.keys.secret_key)
    branded = client.patch("/api/v1/checkout/settings", json={"brand_color": "#5c2d91"}, headers=headers)
    assert branded.status_code == 200
    paid = create_session(
        client,
        tenant,
        description="Coffee beans, 1 kg",
        reference="order-1042",
        cancel_url="https://shop.example/",
    )
    expired = create_session(
        client, tenant, description="Coffee beans, 1 kg", cancel_url="https://shop.example/"
    )
    assert (
        client.post(f"/api/v1/checkout/sessions/{expired['id']}/expire", json={}, headers=headers).status_code
        == 200
    )

    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    page.goto(f"/pay/{paid['id']}")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry date").fill("12 / 34")
    page.get_by_label("Security code").fill("123")
    page.get_by_label("Cardholder name").fill("Ada Lovelace")
    page.get_by_role("button", name=re.compile(r"^Pay")).click()
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    page.get_by_role("textbox", name="Email").fill("ada@example.com")
    page.get_by_role("button", name="Send receipt").click()
    expect(page.get_by_role("status")).to_contain_text("ada@example.com")
    receipt_url = page.url
    pages = {
        "receipt": receipt_url,
        "expired": f"/pay/{expired['id']}",
        "not-found": "/pay/cs_01m80kjchcrwx3wm7cpn2751z4",
    }
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
        for name, url in pages.items():
            page.goto(url)
            page.screenshot(path=str(SCREENS / f"{name}-{width}.png"), full_page=True)
    context.close()
