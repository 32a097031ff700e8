"""The settings screens in real Chromium: branding with its live preview (htmx, no page load) under the
portal's real CSP, then the hosted page wearing it; a block-list entry that blocks the next payment; the
business profile and the time zone with JavaScript off; axe-core on every settings screen; screenshots at
1280 and 390 px (test-results/screens/, copied to docs/screens/settings-*.png after a look)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, BrowserContext, Page, expect

from core.jobs.runtime import Runtime
from e2e.portal_helpers import sign_in
from e2e.test_accessibility import assert_accessible, axe_source  # noqa: F401  (a fixture)
from tests.branding_images import png
from tests.fixtures import Factories
from tests.payments_helpers import confirm, create_session, work_until_settled

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

SCREENS = Path(__file__).resolve().parent.parent / "test-results" / "screens"
#: What sticks out of the viewport (a page that scrolls sideways on a phone).
WIDER = """(width) => [...document.querySelectorAll('body *')]
  .filter((el) => el.getBoundingClientRect().right > width + 1 && !el.closest('.table-wrap'))
  .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''))"""


def shoot(page: Page, name: str) -> None:
    """Screenshots at 1280 and 390 px; at 390 nothing but a scrolling table may be wider than the screen."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} scrolls sideways at {width} px: {page.evaluate(WIDER, width)}"
        page.screenshot(path=str(SCREENS / f"settings-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.fixture
def contexts(browser: Browser, live_server: str, clean: Runtime) -> Iterator[list[BrowserContext]]:
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


def new_tab(browser: Browser, live_server: str, made: list[BrowserContext], *, js: bool = True) -> Page:
    """A tab for axe-core (which runs inside the page, so the context bypasses the CSP; see
    e2e/test_accessibility.py `audited`)."""
    context = browser.new_context(base_url=live_server, bypass_csp=True, java_script_enabled=js)
    made.append(context)
    return context.new_page()


def pay_button_colour(page: Page) -> str:
    return str(page.get_by_test_id("preview-pay").evaluate("el => getComputedStyle(el).backgroundColor"))


def test_branding_previews_as_typed_then_the_hosted_page_wears_it(
    page: Page, client: FlaskClient, make: Factories, tmp_path: Path
) -> None:
    tenant = make.tenants(name="Mug Makers")
    sign_in(page, tenant)
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Branding").click()
    expect(page.locator("#settings-mode")).to_have_text("Test mode settings")
    preview = page.get_by_test_id("checkout-preview")
    expect(preview).to_contain_text("Mug Makers")
    assert pay_button_colour(page) == "rgb(11, 87, 208)", "Kassa's blue until a colour is chosen"

    page.wait_for_load_state()  # htmx (deferred) is listening once the page has loaded
    page.evaluate("window.__samePage = true")  # gone if the browser loaded a new page
    page.get_by_label("Display name").fill("Mugs & More")
    page.get_by_label("Brand colour").fill("#1a7f37")
    expect(preview).to_contain_text("Mugs & More")
    expect(preview).to_contain_text("MUGS & MORE")  # the descriptor derived from the unsaved name
    expect(page.get_by_test_id("preview-pay")).to_have_css("background-color", "rgb(26, 127, 55)")
    page.get_by_label("Brand colour").fill("#7a7a7a")
    expect(page.locator("#contrast-warning")).to_contain_text("would be hard to read")
    expect(page.get_by_test_id("preview-pay")).to_have_css("background-color", "rgb(11, 87, 208)")
    assert page.evaluate("window.__samePage") is True, "the preview came by htmx, not a page load"

    page.get_by_label("Brand colour").fill("#1a7f37")
    logo = tmp_path / "logo.png"
    logo.write_bytes(png(96, 32, rgb=(200, 30, 60)))
    page.get_by_label("Logo").set_input_files(str(logo))
    page.get_by_role("button", name="Save branding").click()
    expect(page.get_by_text("Branding saved for test mode.")).to_be_visible()
    expect(preview.get_by_role("img", name="Mugs & More")).to_be_visible()
    shoot(page, "branding-saved")

    cs = create_session(client, tenant)
    page.goto(f"/pay/{cs['id']}")
    expect(page.get_by_role("img", name="Mugs & More")).to_be_visible()
    pay = page.get_by_role("button", name=re.compile(r"^Pay"))
    expect(pay).to_have_css("background-color", "rgb(26, 127, 55)")


def test_a_block_list_entry_is_listed_with_who_and_why_and_blocks_the_next_payment(
    browser: Browser,
    live_server: str,
    contexts: list[BrowserContext],
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    axe_source: str,  # noqa: F811
) -> None:
    tenant = make.tenants(name="Acme Coffee")
    page = new_tab(browser, live_server, contexts)
    sign_in(page, tenant, then="/portal/settings/risk")
    page.get_by_label("Block by").select_option("bin")
    page.get_by_label("Value").fill("555555")
    page.get_by_role("button", name="Add to block list").click()
    expect(page.locator("#note-error")).to_have_text("Say why, so your team knows later.")
    expect(page.locator("#blocks")).to_contain_text("Nothing is blocked yet")
    page.get_by_label("Reason").fill("Card-testing run from this issuer, ticket 77")
    page.get_by_role("button", name="Add to block list").click()
    expect(page.get_by_text("Added to the block list")).to_be_visible()
    row = page.locator("#blocks tbody tr").first
    expect(row).to_contain_text("555555")
    expect(row).to_contain_text("Card-testing run from this issuer, ticket 77")
    expect(row).to_contain_text(tenant.owner_email)
    assert_accessible(page, axe_source, "the risk settings with a block-list entry")
    shoot(page, "risk")

    cs = create_session(client, tenant)
    payment_id = confirm(clean, tenant, cs["id"], card_number="5555 5555 5555 4444")
    payment = work_until_settled(clean, tenant, payment_id)
    assert str(payment.status) == "failed" and payment.failure_code == "risk_blocked"


def test_every_settings_screen_is_accessible_and_fits_a_phone(
    browser: Browser,
    live_server: str,
    contexts: list[BrowserContext],
    make: Factories,
    axe_source: str,  # noqa: F811
) -> None:
    tenant = make.tenants(name="Tea & Cake")
    page = new_tab(browser, live_server, contexts)
    sign_in(page, tenant, then="/portal/settings/business")
    page.get_by_label("Legal business name").fill("Tea & Cake GmbH")
    page.get_by_label("Business address").fill("Hauptstraße 1\n10115 Berlin\nGermany")
    page.get_by_label("Support email").fill("help@teacake.example")
    page.get_by_label("Support website").fill("http://teacake.example")
    page.get_by_role("button", name="Save business profile").click()
    expect(page.locator("#support_url-error")).to_have_text(
        "Enter an https address like https://shop.example/help."
    )
    assert_accessible(page, axe_source, "the business profile with an error")
    shoot(page, "business-error")
    page.get_by_label("Support website").fill("https://teacake.example/help")
    page.get_by_role("button", name="Save business profile").click()
    expect(page.get_by_text("Business profile saved")).to_be_visible()
    expect(page.locator(".receipt-foot")).to_contain_text("10115 Berlin")
    assert_accessible(page, axe_source, "the business profile")
    shoot(page, "business")

    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Branding").click()
    page.wait_for_load_state()  # htmx (deferred) is listening once the page has loaded
    page.get_by_label("Brand colour").fill("#7a7a7a")
    expect(page.locator("#contrast-warning")).to_be_visible()
    assert_accessible(page, axe_source, "the branding screen with a contrast warning")
    shoot(page, "branding")

    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Checkout").click()
    page.get_by_label("Allowed widget origins").fill("https://shop.example/checkout")
    page.get_by_role("button", name="Save checkout settings").click()
    expect(page.locator("#allowed_origins-error")).to_contain_text("is not an origin")
    assert_accessible(page, axe_source, "the checkout settings with an error")
    shoot(page, "checkout-error")
    page.get_by_label("Allowed widget origins").fill("https://shop.example")
    page.get_by_label("Wallet").uncheck()
    page.get_by_role("button", name="Save checkout settings").click()
    expect(page.get_by_text("Checkout settings saved for test mode.")).to_be_visible()
    assert_accessible(page, axe_source, "the checkout settings")
    shoot(page, "checkout")

    page.goto("/portal/account")
    assert_accessible(page, axe_source, "the account page with its time zone")
    shoot(page, "account")


def test_with_javascript_off_the_profile_the_branding_preview_and_the_time_zone_work(
    browser: Browser, live_server: str, contexts: list[BrowserContext], make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(name="Plain Pages")
    page = new_tab(browser, live_server, contexts, js=False)
    sign_in(page, tenant, then="/portal/settings/business")
    page.get_by_label("Support email").fill("not an email")
    page.get_by_role("button", name="Save business profile").click()
    expect(page.locator("#support_email-error")).to_have_text(
        "Enter an email address like support@shop.example."
    )
    page.get_by_label("Support email").fill("help@plain.example")
    page.get_by_role("button", name="Save business profile").click()
    expect(page.get_by_text("Business profile saved")).to_be_visible()

    page.goto("/portal/settings/branding")
    page.get_by_label("Display name").fill("Plain & Simple")
    page.get_by_label("Brand colour").fill("#1a7f37")
    page.get_by_role("button", name="Update preview").click()
    expect(page.get_by_test_id("checkout-preview")).to_contain_text("Plain & Simple")
    expect(page.get_by_test_id("preview-pay")).to_have_css("background-color", "rgb(26, 127, 55)")
    page.get_by_role("button", name="Save branding").click()
    expect(page.get_by_text("Branding saved for test mode.")).to_be_visible()

    page.goto("/portal/account")
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_text("Dates are now shown in America/New York time.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Now: .*(EST|EDT|GMT-[45]|-0[45]00)"))).to_be_visible()
