"""The portal's locality rules editor in real Chromium: a rule saved and published in the editor changes
what the hosted page offers; the rule edit works with JavaScript off; a surcharge where the law forbids
one is refused with the reason; the preview follows the inputs (htmx); axe-core finds no serious or
critical violation on the editor, a version and the dry run, at 1280 and 390 px, and nothing is wider
than the window.

With KASSA_WRITE_SCREENS=1 the walk also refreshes docs/screens/portal-locality-*.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from e2e.portal_helpers import sign_in
from e2e.test_portal_screens import audited, axe_source, look  # noqa: F401  (fixtures)
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import create_session

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]


def method_tabs(page: Page, client: FlaskClient, tenant: MadeTenant, amount: int) -> list[str]:
    cs = create_session(client, tenant, amount=amount, country="DE")
    page.goto(f"/pay/{cs['id']}")
    expect(page.get_by_role("button", name="Pay", exact=False)).to_be_visible()
    return [text.strip() for text in page.locator(".method-tab").all_inner_texts()]


def wallet_off_above_100(page: Page) -> None:
    page.goto("/portal/locality")
    page.get_by_label("Country", exact=True).fill("DE")
    page.get_by_label("Currency of the limits").fill("EUR")
    page.get_by_label("Wallet offered up to").fill("100.00")
    page.get_by_role("button", name="Save to draft").click()
    expect(page.get_by_text("The rule for DE is saved to the draft.")).to_be_visible()
    expect(page.locator("#draft")).to_contain_text("Wallet only up to 100.00 EUR")
    page.get_by_label("Note for the history").fill("Wallet off above 100 EUR in DE")
    page.get_by_role("button", name="Publish the draft").click()
    expect(page.get_by_text("Version 1 is in force now.")).to_be_visible()


def test_a_rule_saved_in_the_editor_changes_what_the_hosted_page_offers(
    page: Page, client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants(name="Berlin Books", country="DE", currency="EUR")
    assert method_tabs(page, client, tenant, 12_000) == ["Card", "Wallet", "Online banking"]
    sign_in(page, tenant, "/portal/locality")
    wallet_off_above_100(page)
    assert method_tabs(page, client, tenant, 12_000) == ["Card", "Online banking"]
    assert method_tabs(page, client, tenant, 8_000) == ["Card", "Wallet", "Online banking"]


def test_the_preview_follows_the_inputs_without_a_page_load(page: Page, make: Factories) -> None:
    tenant = make.tenants(name="Berlin Books", country="DE", currency="EUR")
    sign_in(page, tenant, "/portal/locality")
    wallet_off_above_100(page)
    # The publish loaded a new page: type only once htmx has taken over its preview form (on a busy
    # machine the input event could otherwise come before htmx listens for it).
    page.wait_for_load_state("load")
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("window.__same_page = true")
    page.get_by_label("Amount", exact=True).fill("120.00")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("A shopper in DE paying 120.00 EUR sees: Card, Online banking")
    expect(preview).to_contain_text("Wallet is offered only up to 100.00 EUR.")
    page.get_by_label("Amount", exact=True).fill("80")
    expect(preview).to_contain_text("paying 80.00 EUR sees: Card, Wallet, Online banking")
    assert page.evaluate("window.__same_page") is True  # swapped in place, no navigation
    assert "amount=80" in page.url  # the preview's inputs are in the address


@pytest.fixture
def no_js(browser: Browser, live_server: str, clean: Runtime) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_with_javascript_off_the_rule_edit_works_and_a_forbidden_surcharge_says_why(
    no_js: Page, client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants(name="Berlin Books", country="DE", currency="EUR")
    page = no_js
    sign_in(page, tenant, "/portal/locality")
    page.get_by_label("Country", exact=True).fill("FR")
    page.get_by_label("Card surcharge (%)").fill("2")
    page.get_by_role("button", name="Save to draft").click()
    error = page.locator("#surcharge-error")
    expect(error).to_have_text(
        "Card surcharges on consumer payments are not allowed in FR (EU PSD2 / UK rules): "
        "leave the surcharge empty or 0."
    )
    expect(page.get_by_label("Card surcharge (%)")).to_have_attribute("aria-invalid", "true")
    wallet_off_above_100(page)
    page.goto("/portal/locality?country=DE&currency=EUR&amount=120.00")  # the preview as a plain GET
    expect(page.locator("#preview")).to_contain_text("paying 120.00 EUR sees: Card, Online banking")
    assert method_tabs(page, client, tenant, 12_000) == ["Card", "Online banking"]


def test_the_editor_screens_are_accessible_and_fit(
    audited: Page,  # noqa: F811
    make: Factories,
    axe_source: str,  # noqa: F811
) -> None:
    page = audited
    tenant = make.tenants(name="Berlin Books", country="DE", currency="EUR")
    for amount, method in ((12_000, "wallet"), (15_000, "wallet"), (9_000, "wallet"), (60_000, "card")):
        cs = make.sessions(tenant=tenant, amount=amount, country="DE")
        make.payments(tenant=tenant, session=cs, method=method, pending=True)
    sign_in(page, tenant, "/portal/locality")
    look(page, axe_source, "locality-empty")
    wallet_off_above_100(page)
    page.get_by_label("Country", exact=True).fill("US")
    page.get_by_label("Currency of the limits").fill("USD")
    page.get_by_label("Card surcharge (%)").fill("1.5")
    page.get_by_label("Required fields").select_option("postal_code,email")
    page.get_by_role("button", name="Save to draft").click()
    expect(page.get_by_text("The rule for US is saved to the draft.")).to_be_visible()
    page.get_by_label("Country", exact=True).fill("DE")
    page.get_by_label("Currency of the limits").fill("EUR")
    page.get_by_label("Wallet offered up to").fill("100.00")
    page.get_by_label("Maximum amount").fill("500.00")
    page.get_by_label("3-D Secure").select_option("required")
    page.get_by_label("Default language").select_option("de")
    page.get_by_role("button", name="Save to draft").click()
    expect(page.get_by_text("The rule for DE is saved to the draft.")).to_be_visible()
    page.goto("/portal/locality?country=DE&currency=EUR&amount=120.00")
    expect(page.locator("#preview")).to_contain_text("Card, Online banking; 3DS; German")
    look(page, axe_source, "locality")
    page.get_by_label("Country", exact=True).fill("NL")
    page.get_by_label("Card surcharge (%)").fill("1")
    page.get_by_role("button", name="Save to draft").click()
    expect(page.locator("#surcharge-error")).to_contain_text("not allowed in NL")
    look(page, axe_source, "locality-surcharge-refused")
    page.goto("/portal/locality/dry-run")
    expect(page.locator("#dry-run-summary")).to_contain_text(
        "Would have changed 3 payments: 2 would not have been offered Wallet, 1 over the new limit"
    )
    look(page, axe_source, "locality-dry-run")
    page.goto("/portal/locality")
    page.get_by_role("link", name="Version 1").first.click()
    expect(page.get_by_role("heading", name="Version 1")).to_be_visible()
    look(page, axe_source, "locality-version")
