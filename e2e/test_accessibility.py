"""Accessibility of the payment pages in real Chromium: axe-core finds no serious or critical violation,
and a shopper can pay with the keyboard alone.

axe-core is an npm devDependency (package.json): installed by `make install` for the tests, never copied
into static/ and never served by Kassa.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from tests.branding_images import data_url, png
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
#: What axe-core reports, shortened to what a developer needs to fix it.
SUMMARY = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(
            f"axe-core is not installed ({AXE.relative_to(AXE.parents[2])} is missing): run `make install`, "
            "which runs `npm ci` and installs package.json's devDependencies."
        )
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def audited(browser: Browser, live_server: str, clean: Runtime) -> Iterator[Page]:
    """A tab whose pages may be audited by axe-core.

    axe-core has to run inside the page, and `add_script_tag` inserts it as a script without Kassa's
    nonce, which the payment pages' CSP (script-src 'self' 'nonce-…') rightly blocks. So this context, and
    only this one, bypasses the CSP: the audit looks at markup and styles, which the CSP does not change,
    and every other browser test runs under the real CSP (tests/checkout/test_script_inventory.py checks
    it on every page).
    """
    context = browser.new_context(base_url=live_server, bypass_csp=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    # The expired page answers 410, the unavailable page 422 and the error pages 404, 429 and 500 on purpose;
    # Chromium logs any error status.
    errors = [e for e in errors if not re.search(r"status of (410|422|404|429|500)\b", e)]
    assert not errors, f"browser console errors: {errors}"


def assert_accessible(page: Page, axe_source: str, what: str) -> None:
    page.add_script_tag(content=axe_source)
    violations: list[dict[str, Any]] = page.evaluate(SUMMARY)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"axe-core on {what} ({page.url}):\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} ({v['url']})\n"
        + "\n".join(f"    {n['target']}: {n['summary']}" for n in v["nodes"])
        for v in blocking
    )


def open_checkout(page: Page, client: FlaskClient, tenant: MadeTenant, **fields: Any) -> dict[str, Any]:
    cs = create_session(client, tenant, **{"description": "Coffee beans", **fields})
    page.goto(f"/pay/{cs['id']}")
    return cs


def fill_card(page: Page, number: str) -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry date").fill("12 / 34")
    page.get_by_label("Security code").fill("123")
    page.get_by_label("Cardholder name").fill("Ada Lovelace")


def pay(page: Page) -> None:
    page.get_by_role("button", name=re.compile(r"^Pay")).click()


def test_the_hosted_page_and_its_errors_are_accessible(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str
) -> None:
    tenant = make.tenants(name="Bean There")
    open_checkout(audited, client, tenant, cancel_url="https://shop.example/cart")
    expect(audited.get_by_label("Card number")).to_be_visible()
    assert_accessible(audited, axe_source, "the card tab")

    pay(audited)  # nothing filled in: every field is in error
    expect(audited.get_by_text("Enter the card number.")).to_be_visible()
    expect(audited.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
    expect(audited.get_by_label("Card number")).to_be_focused()  # the first field in error
    assert_accessible(audited, axe_source, "the card tab with validation errors")

    fill_card(audited, "4000 0000 0000 0002")
    pay(audited)
    expect(audited.get_by_role("alert")).to_contain_text("Your card was declined.", timeout=15_000)
    assert_accessible(audited, axe_source, "the card tab after a decline")

    for tab in ("Wallet", "Online banking"):
        audited.get_by_role("link", name=tab).click()
        expect(audited.get_by_role("link", name=tab)).to_have_attribute("aria-current", "page")
        assert_accessible(audited, axe_source, f"the {tab} tab")


@pytest.mark.parametrize("brand_color", ["#ffd400", "#5c2d91"])
def test_the_card_tab_is_accessible_in_a_pale_and_a_dark_brand_colour(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str, brand_color: str
) -> None:
    tenant = make.tenants()
    branded = client.patch(
        "/api/v1/checkout/settings", json={"brand_color": brand_color}, headers=auth(tenant.keys.secret_key)
    )
    assert branded.status_code == 200, branded.json
    open_checkout(audited, client, tenant)
    assert_accessible(audited, axe_source, f"the card tab in {brand_color}")
    audited.get_by_label("Card number").focus()
    ring = audited.evaluate("() => getComputedStyle(document.activeElement).outlineColor")
    # Pale brand colours cannot mark the focus on the white card; the dark text colour does instead.
    assert ring == ("rgb(27, 31, 36)" if brand_color == "#ffd400" else "rgb(92, 45, 145)")


def test_the_card_tab_and_receipt_with_a_logo_and_a_descriptor_are_accessible(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str
) -> None:
    tenant = make.tenants(name="Mug Makers")
    branded = client.patch(
        "/api/v1/checkout/settings",
        json={"logo": data_url(png(120, 40)), "statement_descriptor": "Mug Makers Berlin"},
        headers=auth(tenant.keys.secret_key),
    )
    assert branded.status_code == 200, branded.json
    open_checkout(audited, client, tenant)
    expect(audited.get_by_role("img", name="Mug Makers")).to_be_visible()
    expect(audited.get_by_text("Appears on your statement as MUG MAKERS BERLIN")).to_be_visible()
    assert_accessible(audited, axe_source, "the card tab with a logo and a statement descriptor")
    fill_card(audited, "4242 4242 4242 4242")
    pay(audited)
    expect(audited.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    expect(audited.get_by_text("MUG MAKERS BERLIN")).to_be_visible()
    assert_accessible(audited, axe_source, "the receipt with a logo and a statement descriptor")


def test_the_3ds_page_and_the_receipt_are_accessible(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str
) -> None:
    tenant = make.tenants()
    open_checkout(audited, client, tenant, reference="order-17")
    fill_card(audited, "4000 0027 6000 3184")
    pay(audited)
    expect(audited.get_by_role("heading", name="Confirm it's you")).to_be_visible(timeout=15_000)
    assert_accessible(audited, axe_source, "the 3DS page")
    audited.get_by_role("button", name="Complete").click()
    expect(audited.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    assert_accessible(audited, axe_source, "the receipt")


@pytest.mark.parametrize("tab", ["Wallet", "Online banking"])
def test_the_approval_pages_are_accessible(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str, tab: str
) -> None:
    tenant = make.tenants()
    open_checkout(audited, client, tenant)
    audited.get_by_role("link", name=tab).click()
    pay(audited)
    expect(audited.get_by_role("button", name="Approve")).to_be_visible(timeout=15_000)
    assert_accessible(audited, axe_source, f"the {tab} approval page")


def test_the_expired_page_is_accessible(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant, cancel_url="https://shop.example/cart")
    expired = client.post(
        f"/api/v1/checkout/sessions/{cs['id']}/expire", json={}, headers=auth(tenant.keys.secret_key)
    )
    assert expired.status_code == 200
    response = audited.goto(f"/pay/{cs['id']}")
    assert response is not None and response.status == 410
    expect(audited.get_by_role("heading", name="This payment link has expired")).to_be_visible()
    assert_accessible(audited, axe_source, "the expired page")


def test_the_receipt_after_emailing_it_is_accessible(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str
) -> None:
    tenant = make.tenants(name="Bean There")
    open_checkout(audited, client, tenant, cancel_url="https://shop.example/cart", reference="order-18")
    fill_card(audited, "4242 4242 4242 4242")
    pay(audited)
    expect(audited.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    expect(audited.get_by_role("link", name="Return to Bean There")).to_be_visible()
    audited.get_by_role("textbox", name="Email").fill("grace@example.com")
    audited.get_by_role("button", name="Send receipt").click()
    expect(audited.get_by_role("status")).to_contain_text("grace@example.com")
    expect(audited.get_by_role("heading", name="Email me a receipt")).to_have_count(0)
    assert_accessible(audited, axe_source, "the receipt with a receipt on its way")
    audited.get_by_text("Send it to another address").click()
    expect(audited.get_by_role("textbox", name="Email")).to_be_visible()
    assert_accessible(audited, axe_source, "the receipt with the folded form opened")


def test_the_error_pages_are_accessible(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checkout import links as link_views
    from tests.checkout.test_payment_links import create_link, slug_of

    response = audited.goto("/pay/cs_01m80kjchcrwx3wm7cpn2751z4")
    assert response is not None and response.status == 404
    expect(audited.get_by_role("heading", name="Not found")).to_be_visible()
    assert_accessible(audited, axe_source, "the unknown-link page")

    link = create_link(client, make.tenants())
    monkeypatch.setattr(link_views, "VISITS_PER_IP_HOUR", 0)
    response = audited.goto(f"/l/{slug_of(link)}")
    assert response is not None and response.status == 429
    expect(audited.get_by_role("link", name="Try again")).to_be_visible()
    assert_accessible(audited, axe_source, "the rate-limit page")


def test_the_locality_pages_are_accessible(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str
) -> None:
    tenant = make.tenants(country="US", currency="USD")
    headers = auth(tenant.keys.secret_key)
    rule = {"country": "US", "surcharge_bps": 250, "amount_limits": [{"currency": "USD", "max": 100_000}]}
    created = client.post("/api/v1/locality_rules", json=rule, headers=headers)
    assert created.status_code == 201
    open_checkout(audited, client, tenant, currency="USD")
    expect(audited.get_by_text("Card surcharge (2.5%)")).to_be_visible()
    assert_accessible(audited, axe_source, "the card tab with a surcharge and a postal code")

    cs = create_session(client, tenant, currency="USD", cancel_url="https://shop.example/cart")
    lowered = {"amount_limits": [{"currency": "USD", "max": 1000}]}
    assert (
        client.patch(
            f"/api/v1/locality_rules/{created.json['id']}", json=lowered, headers=headers
        ).status_code
        == 200
    )
    response = audited.goto(f"/pay/{cs['id']}")
    assert response is not None and response.status == 422
    expect(audited.get_by_role("heading", name="This payment can't be made here")).to_be_visible()
    assert_accessible(audited, axe_source, "the unavailable page")


# --- the keyboard alone -----------------------------------------------------------------------------------


def focused(page: Page) -> str:
    """The focused element, as a shopper using a screen reader would hear it: its label or text."""
    return str(
        page.evaluate(
            """() => {
          const el = document.activeElement;
          if (!el || el === document.body) return "";
          const label = el.labels && el.labels.length ? el.labels[0].textContent : el.textContent;
          return label.trim().replace(/\\s+/g, " ");
        }"""
        )
    )


def test_a_shopper_pays_with_the_keyboard_alone(page: Page, client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants(name="Bean There")
    open_checkout(page, client, tenant)
    expect(page.get_by_label("Card number")).to_be_visible()

    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        order.append(focused(page))
        if order[-1] == "Card number":
            break
    assert order[-1] == "Card number", f"Tab never reached the card number: {order}"
    assert order[:-1] == ["Card", "Wallet", "Online banking"], order
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused field shows where the focus is"

    typed = {
        "Card number": "4242 4242 4242 4242",
        "Expiry date": "12 / 34",
        "Security code": "123",
        "Cardholder name": "Ada Lovelace",
    }
    for label, text in typed.items():
        assert focused(page) == label, f"expected the focus on {label!r}, it is on {focused(page)!r}"
        page.keyboard.type(text)
        page.keyboard.press("Tab")
    while focused(page) == "Email":
        page.keyboard.type("ada@example.com")
        page.keyboard.press("Tab")
    assert focused(page).startswith("Pay"), f"after the fields, Tab reaches Pay, not {focused(page)!r}"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("···· 4242")).to_be_visible()


# --- live mode: no TEST MODE badge, the same pages ----------------------------------------------------------


def test_the_live_mode_pages_are_accessible_and_show_no_test_mode_badge(
    audited: Page, client: FlaskClient, make: Factories, clean: Runtime, axe_source: str
) -> None:
    from tests.live_mode import create_live_session

    tenant = make.tenants(name="Bean There")
    cs = create_live_session(
        clean, tenant, description="Coffee beans", cancel_url="https://shop.example/cart"
    )
    audited.goto(f"/pay/{cs}")
    expect(audited.get_by_label("Card number")).to_be_visible()
    expect(audited.locator(".test-mode-badge")).to_have_count(0)
    assert_accessible(audited, axe_source, "the live card tab")

    pay(audited)
    expect(audited.get_by_text("Enter the card number.")).to_be_visible()
    assert_accessible(audited, axe_source, "the live card tab with validation errors")

    fill_card(audited, "4242 4242 4242 4242")
    pay(audited)  # no live processor here: the payment waits for it
    expect(audited.get_by_role("heading", name="Processing your payment")).to_be_visible()
    expect(audited.locator(".test-mode-badge")).to_have_count(0)
    assert_accessible(audited, axe_source, "the live processing page")

    audited.goto(f"/pay/{create_live_session(clean, tenant)}")
    for tab in ("Wallet", "Online banking"):
        audited.get_by_role("link", name=tab).click()
        expect(audited.get_by_role("link", name=tab)).to_have_attribute("aria-current", "page")
        expect(audited.locator(".test-mode-badge")).to_have_count(0)
        assert_accessible(audited, axe_source, f"the live {tab} tab")


def _live_processor_answers(rt: Runtime, tenant: MadeTenant, payment_id: str, result: Any) -> None:
    """What a live acquirer's answer does to a waiting live payment, through the payment service's own
    state machine (there is no live processor here: the worker cannot reach one)."""
    from core.context import Actor
    from core.payments import service

    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        payment = service.get(uow.session, payment_id=payment_id, lock=True)
        screened = service._risk_input(payment, test_card=None)
        worker = rt.context(uow, Actor.system("worker"))
        service._apply(uow.session, payment, result, screened=screened, ctx=worker)


def test_the_live_decline_3ds_and_receipt_pages_are_accessible_and_show_no_badge(
    audited: Page, make: Factories, clean: Runtime, axe_source: str
) -> None:
    from core.processors.base import ProcessorResult, ProcessorStatus
    from tests.live_mode import create_live_session

    tenant = make.tenants(name="Bean There")
    answers = {
        "decline": ProcessorResult(
            ProcessorStatus.DECLINED, "live_ch_1", code="card_declined", message="Card declined."
        ),
        "3DS": ProcessorResult(ProcessorStatus.REQUIRES_ACTION, "live_ch_2"),
        "receipt": ProcessorResult(ProcessorStatus.CAPTURED, "live_ch_3", amount=2500),
    }
    expected = {
        "decline": lambda: expect(audited.get_by_role("alert")).to_contain_text("Your card was declined."),
        "3DS": lambda: expect(audited.get_by_role("heading", name="Confirm it's you")).to_be_visible(),
        "receipt": lambda: expect(audited.get_by_role("heading", name="Payment successful")).to_be_visible(),
    }
    for page_name, answer in answers.items():
        cs = create_live_session(clean, tenant, description="Coffee beans")
        audited.goto(f"/pay/{cs}")
        fill_card(audited, "4242 4242 4242 4242")
        pay(audited)
        expect(audited.get_by_role("heading", name="Processing your payment")).to_be_visible()
        payment_id = re.search(r"/payments/(pay_[0-9a-z]+)", audited.url)
        assert payment_id is not None, audited.url
        _live_processor_answers(clean, tenant, payment_id.group(1), answer)
        audited.goto(f"/pay/{cs}/payments/{payment_id.group(1)}")
        expected[page_name]()
        expect(audited.locator(".test-mode-badge")).to_have_count(0)
        assert_accessible(audited, axe_source, f"the live {page_name} page")


def test_the_test_mode_badge_and_the_bank_list_are_accessible(
    audited: Page, client: FlaskClient, make: Factories, axe_source: str
) -> None:
    tenant = make.tenants()
    allowed = client.patch(
        "/api/v1/checkout/settings",
        json={"allowed_origins": ["https://shop.example"]},
        headers=auth(tenant.keys.secret_key),
    )
    assert allowed.status_code == 200, allowed.json
    cs = create_session(client, tenant)
    audited.goto(f"/embed/{cs['id']}?origin=https://shop.example")  # the widget's page, on its own
    expect(audited.locator(".test-mode-badge")).to_have_text("Test mode · No real money is charged.")
    expect(audited.locator(".test-mode-badge")).to_be_visible()
    assert_accessible(audited, axe_source, "the embed page in test mode")

    audited.goto(f"/pay/{cs['id']}?method=bank")
    pay(audited)
    banks = audited.get_by_role("group", name="Bank").get_by_role("radio")
    expect(banks.first).to_be_checked(timeout=15_000)
    assert_accessible(audited, axe_source, "the bank list")
