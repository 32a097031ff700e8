"""The card form in real Chromium: brand marks, formatting as the shopper types, and the same form without
JavaScript. The page's script (static/checkout/card.js) must agree with the vault (core/vault/cards.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from core.vault import cards
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

#: A card of each brand as a shopper types it, as the field shows it, and the mark's name.
BRANDS = [
    ("4242424242424242", "4242 4242 4242 4242", "visa", "Visa"),
    ("5555555555554444", "5555 5555 5555 4444", "mastercard", "Mastercard"),
    ("2223003122003222", "2223 0031 2200 3222", "mastercard", "Mastercard"),
    ("378282246310005", "3782 822463 10005", "amex", "American Express"),
    ("6011111111111117", "6011 1111 1111 1117", "discover", "Discover"),
    ("3530111333300000", "3530 1113 3330 0000", "jcb", "JCB"),
    ("30569309025904", "3056 930902 5904", "diners", "Diners Club"),
    ("6200000000000005", "6200 0000 0000 0005", "unionpay", "UnionPay"),
    ("6759649826438453", "6759 6498 2643 8453", "maestro", "Maestro"),
]


def open_checkout(page: Page, client: FlaskClient, tenant: MadeTenant, **fields: Any) -> dict[str, Any]:
    cs = create_session(client, tenant, **{"description": "Coffee beans", **fields})
    page.goto(f"/pay/{cs['id']}")
    return cs


def pay(page: Page) -> None:
    page.get_by_role("button", name=re.compile(r"^Pay")).click()


def visible_marks(page: Page) -> list[str]:
    return [
        str(alt)
        for alt in page.locator("#card-brands img:visible").evaluate_all("els => els.map(e => e.alt)")
    ]


@pytest.mark.parametrize(
    ("typed", "shown", "brand", "name"), BRANDS, ids=[b[2] + "-" + b[0][:4] for b in BRANDS]
)
def test_the_number_shows_its_brand_and_is_grouped_as_the_brand_groups_it(
    page: Page, client: FlaskClient, make: Factories, typed: str, shown: str, brand: str, name: str
) -> None:
    assert cards.detect_brand(typed) == brand  # the vault says so too
    open_checkout(page, client, make.tenants())
    assert visible_marks(page) == ["Visa", "Mastercard", "American Express", "Maestro"]
    number = page.get_by_label("Card number")
    number.press_sequentially(typed)
    expect(number).to_have_value(shown)
    expect(page.get_by_role("img", name=name, exact=True)).to_be_visible()
    assert visible_marks(page) == [name]
    cvc = page.get_by_label("Security code")
    expect(cvc).to_have_attribute("maxlength", "4" if brand == "amex" else "3")
    hint = "4 digits on the front" if brand == "amex" else "3 digits on the back"
    expect(page.locator("#cvc-hint")).to_have_text(hint)
    # The field holds no more digits than the brand's cards have.
    number.press_sequentially("9999")
    assert len(re.sub(r"\D", "", number.input_value())) == (
        15 if brand == "amex" else min(len(typed) + 4, 19)
    )


def test_the_page_and_the_vault_agree_on_every_bin_range(
    page: Page, client: FlaskClient, make: Factories
) -> None:
    open_checkout(page, client, make.tenants())
    form = page.locator("#pay-form")
    number = page.get_by_label("Card number")
    prefixes = set()
    for _brand, length, first, last in cards.IIN_RANGES:
        for value in (first - 1, first, last, last + 1):
            if len(str(value)) == length:
                prefixes.add(str(value))
    prefixes |= {"", "0", "1", "9", "7", "59", "66", "68"}
    disagreements = []
    for prefix in sorted(prefixes):
        digits = prefix.ljust(16, "0")
        number.fill(digits)
        expected = cards.detect_brand(digits) if prefix else "unknown"
        if form.get_attribute("data-brand") != expected:
            disagreements.append((prefix, form.get_attribute("data-brand"), expected))
    assert not disagreements, f"(prefix, page, vault): {disagreements}"


def test_the_expiry_gets_its_slash_and_the_caret_stays_put(
    page: Page, client: FlaskClient, make: Factories
) -> None:
    open_checkout(page, client, make.tenants())
    expiry = page.get_by_label("Expiry date")
    expiry.press_sequentially("1234")
    expect(expiry).to_have_value("12 / 34")
    for _ in range(2):
        expiry.press("Backspace")
    expect(expiry).to_have_value("12")  # deleting back to the slash takes the slash too
    expiry.press("Backspace")
    expect(expiry).to_have_value("1")
    expiry.fill("")
    expiry.press_sequentially("4")
    expect(expiry).to_have_value("04 / ")  # a month starting with 4 can only be April
    expiry.press_sequentially("29")
    expect(expiry).to_have_value("04 / 29")
    # A paste in another shape is left alone for the server to explain.
    expiry.fill("Apr 2029")
    expect(expiry).to_have_value("Apr 2029")
    number = page.get_by_label("Card number")
    number.press_sequentially("42424242")
    number.press("Home")
    number.press_sequentially("5")  # typed in front: the caret stays after it
    expect(number).to_have_value("5424 2424 2")
    assert number.evaluate("el => el.selectionStart") == 1


def test_the_security_code_box_stays_as_high_and_level_as_the_expiry_box_after_an_error(
    page: Page, client: FlaskClient, make: Factories
) -> None:
    open_checkout(page, client, make.tenants())
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry date").fill("12 / 34")
    page.get_by_label("Security code").fill("1")
    page.get_by_label("Cardholder name").fill("Ada Lovelace")
    pay(page)
    expect(page.get_by_text("The security code is 3 or 4 digits.")).to_be_visible()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        expiry = page.get_by_label("Expiry date").bounding_box()
        cvc = page.get_by_label("Security code").bounding_box()
        assert expiry and cvc
        assert abs(expiry["height"] - cvc["height"]) < 1, (width, expiry, cvc)
        assert abs(expiry["y"] - cvc["y"]) < 1, (width, expiry, cvc)


def test_name_and_email_are_kept_after_a_decline(page: Page, client: FlaskClient, make: Factories) -> None:
    open_checkout(page, client, make.tenants())
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_label("Expiry date").fill("12 / 34")
    page.get_by_label("Security code").fill("123")
    page.get_by_label("Cardholder name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    pay(page)
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined.", timeout=15_000)
    expect(page.get_by_label("Cardholder name")).to_have_value("Ada Lovelace")
    expect(page.get_by_label("Email")).to_have_value("ada@example.com")
    expect(page.get_by_label("Card number")).to_have_value("")
    expect(page.get_by_label("Security code")).to_have_value("")
    stored = page.evaluate("() => JSON.stringify(Object.assign({}, window.sessionStorage))")
    assert "4000" not in stored and "123" not in stored.replace("Ada Lovelace", "")


def test_without_javascript_a_card_number_with_spaces_pays(
    browser: Browser, live_server: str, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"/pay/{cs['id']}")
        # Every mark the page offers without a script is there; the number is taken as typed.
        marks = page.locator("#card-brands img:visible").evaluate_all("els => els.map(e => e.alt)")
        assert marks == ["Visa", "Mastercard", "American Express", "Maestro"]
        page.get_by_label("Card number").fill("3782 8224 6310 005")  # Amex, grouped the wrong way
        expect(page.get_by_label("Card number")).to_have_value("3782 8224 6310 005")
        page.get_by_label("Expiry date").fill("12/34")
        page.get_by_label("Security code").fill("1234")
        page.get_by_label("Cardholder name").fill("Ada Lovelace")
        pay(page)
        expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
        expect(page.get_by_text("···· 0005")).to_be_visible()
    finally:
        context.close()
    paid = client.get(f"/api/v1/payments?checkout_session={cs['id']}", headers=auth(tenant.keys.secret_key))
    assert [(p["status"], p["card"]["brand"]) for p in paid.json["data"]] == [("succeeded", "amex")]


@pytest.mark.parametrize("width", [390, 320])
def test_the_method_tabs_stay_on_one_row_on_a_phone_and_in_the_widget(
    page: Page, client: FlaskClient, make: Factories, width: int
) -> None:
    tenant = make.tenants()
    allowed = client.patch(
        "/api/v1/checkout/settings",
        json={"allowed_origins": ["https://shop.example"]},
        headers=auth(tenant.keys.secret_key),
    )
    assert allowed.status_code == 200, allowed.json
    cs = create_session(client, tenant)
    page.set_viewport_size({"width": width, "height": 800})
    for url in (f"/pay/{cs['id']}", f"/embed/{cs['id']}?origin=https://shop.example"):
        page.goto(url)
        boxes = [tab.bounding_box() for tab in page.locator(".method-tab").all()]
        assert len(boxes) == 3 and all(boxes)
        assert len({round(box["y"]) for box in boxes if box}) == 1, (url, boxes)
        assert max(box["x"] + box["width"] for box in boxes if box) <= width, (url, boxes)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width, "no sideways scrolling"
