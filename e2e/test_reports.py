"""The portal's reports page in real Chromium: a filter change swaps the chart and table without a full
page load (HTMX), the page works with JavaScript off, axe-core finds nothing serious, and screenshots at
1280 and 390 px (docs/screens/reports-*.png) for a person to look at."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from core.context import Actor
from core.jobs.runtime import Runtime
from core.reports import service
from e2e.test_accessibility import assert_accessible, axe_source  # noqa: F401  (the fixture)
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories

pytestmark = pytest.mark.browser
SCREENS = Path(__file__).resolve().parent.parent / "docs" / "screens"


@pytest.fixture
def shop(make: Factories, clean: Runtime) -> MadeTenant:
    tenant = make.tenants(name="Bean There")
    make.payments(tenant=tenant, amount=1999, customer_email="ann@example.com")
    paid = make.payments(tenant=tenant, amount=4500, customer_email="ann@example.com")
    make.payments(tenant=tenant, amount=1250, customer_email="bo@example.com")
    make.refunds(tenant=tenant, payment=paid, amount=1000)
    make.payments(tenant=tenant, failed=True, amount=700)
    make.payments(tenant=tenant, amount=300, card_number="4000 0000 0000 9995", expect="failed")
    for _ in service.rebuild(clean, tenant_id=tenant.id, actor=Actor.system("test")):
        pass
    return tenant


def sign_in(page: Page, tenant: MadeTenant) -> None:
    page.goto("/portal/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/portal/login/code$"))
    page.get_by_label("Authentication code").fill(tenant.code())
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/portal/$"))


def test_changing_the_date_updates_chart_and_table_without_a_page_load(
    page: Page, shop: MadeTenant, clean: Runtime
) -> None:
    sign_in(page, shop)
    page.get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    expect(page.locator(".kpis").first).to_contain_text("€77.49")
    table = page.get_by_role("table", name=re.compile("Sales per day"))
    expect(table.locator("tbody tr")).to_have_count(30)
    page.evaluate("window.stillHere = true")
    week_ago = (clean.clock.now().date() - timedelta(days=6)).isoformat()
    page.get_by_label("From", exact=True).fill(week_ago)
    page.get_by_label("From", exact=True).dispatch_event("change")
    expect(table.locator("tbody tr")).to_have_count(7)
    expect(page).to_have_url(re.compile(f"from={week_ago}"))
    assert page.evaluate("window.stillHere") is True, "the filter reloaded the whole page"
    # The shopper figures follow in their own request, for the new period too.
    shoppers = page.get_by_role("table", name="Top shoppers by volume")
    expect(shoppers).to_contain_text("ann@example.com")
    expect(page.locator("svg.chart")).to_have_count(6)
    page.get_by_label("Method", exact=True).select_option("wallet")
    expect(page.locator(".kpis").first).to_contain_text("€0.00")
    assert page.evaluate("window.stillHere") is True


def test_the_reports_page_works_with_javascript_off(
    browser: Browser, live_server: str, shop: MadeTenant
) -> None:
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, shop)
        page.goto("/portal/reports")
        expect(page.get_by_role("table", name=re.compile("Declines by reason"))).to_contain_text(
            "card_declined"
        )
        page.get_by_label("Compare with the previous period").check()
        page.get_by_label("Method", exact=True).select_option("card")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r"method=card.*compare=1|compare=1.*method=card"))
        expect(page.get_by_text("Dashed: the previous one.")).to_be_visible()
        expect(page.locator(".kpis").first).to_contain_text("€77.49")
        # Without JavaScript the shopper figures are one link away, for the same filters.
        page.get_by_role("link", name="Show the shopper figures").click()
        expect(page).to_have_url(re.compile(r"shoppers=1.*method=card|method=card.*shoppers=1"))
        expect(page.get_by_role("table", name="Top shoppers by volume")).to_contain_text("ann@example.com")
    finally:
        context.close()


def test_the_reports_page_is_accessible_and_screenshots(
    browser: Browser,
    live_server: str,
    shop: MadeTenant,
    axe_source: str,  # noqa: F811
) -> None:
    # bypass_csp: axe-core must be injected as a script without the page's nonce (see test_accessibility).
    # One context for both widths: a second sign-in within the same 30 s would replay the TOTP code.
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, bypass_csp=True, locale="en-GB"
    )
    try:
        page = context.new_page()
        sign_in(page, shop)
        for width, height in ((1280, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.goto("/portal/reports?compare=1")
            expect(page.get_by_role("table", name="Top shoppers by volume")).to_contain_text(
                "ann@example.com"
            )
            SCREENS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENS / f"reports-{width}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
                f"the reports page scrolls sideways at {width} px"
            )
            assert_accessible(page, axe_source, f"the reports page at {width} px")
    finally:
        context.close()


def test_scheduling_an_export_works_with_javascript_off(
    browser: Browser, live_server: str, shop: MadeTenant
) -> None:
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, shop)
        page.goto("/portal/reports")
        page.get_by_role("link", name="Scheduled exports").click()
        expect(page.get_by_role("heading", name="Scheduled exports", level=1)).to_be_visible()
        page.get_by_label("Export", exact=True).select_option("journal")
        page.get_by_label("Covering").select_option("previous")
        page.get_by_label("Sent").select_option("weekly")
        expect(page.get_by_label(shop.owner_email)).to_be_checked()  # the member themself, by default
        page.get_by_role("button", name="Schedule export").click()
        expect(page.get_by_text("Scheduled. The first file comes")).to_be_visible()
        row = page.get_by_role("table", name="Scheduled exports").locator("tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Accounting journal (CSV)")
        expect(row).to_contain_text("Every Monday")
        page.get_by_role("button", name="Remove the scheduled Accounting journal (CSV) export").click()
        expect(page.get_by_text("No scheduled exports yet.")).to_be_visible()
    finally:
        context.close()


def test_the_scheduled_exports_screen_is_accessible_and_screenshots(
    browser: Browser,
    live_server: str,
    shop: MadeTenant,
    axe_source: str,  # noqa: F811
) -> None:
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, bypass_csp=True, locale="en-GB"
    )
    try:
        page = context.new_page()
        sign_in(page, shop)
        page.goto("/portal/reports/schedules")
        page.get_by_label("Sent").select_option("monthly")
        page.get_by_role("button", name="Schedule export").click()
        expect(page.get_by_text("Scheduled. The first file comes")).to_be_visible()
        for width, height in ((1280, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.goto("/portal/reports/schedules")
            expect(page.get_by_role("heading", name="Schedule an export")).to_be_visible()
            SCREENS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENS / f"report-schedules-{width}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
                f"the scheduled exports screen scrolls sideways at {width} px"
            )
            assert_accessible(page, axe_source, f"the scheduled exports screen at {width} px")
    finally:
        context.close()
