"""In real Chromium: the alert thresholds section of the preferences page (htmx swap, and a plain form
without JavaScript), the bell's poll (the count changes with no page load) and the header's Operations link.
Screenshots at 1280 and 390 px wide go to test-results/ (docs/screens/ holds the ones looked at)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from e2e.test_notifications import payouts_failed, shoot, sign_in
from portal.views import notifications as notification_views
from tests.fixtures import Factories

pytestmark = pytest.mark.browser


def test_alert_thresholds_with_htmx(page: Page, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants(name="Tea & Cake")
    sign_in(page, tenant)
    page.goto("/portal/notifications/preferences")
    expect(page.get_by_role("heading", name="Alert thresholds")).to_be_visible()
    page.evaluate("window.__same_page = true")
    rate = page.get_by_label("Alert when the approval rate is below (0 to 1)")
    rate.fill("2")
    page.get_by_role("button", name="Save thresholds").click()
    expect(page.get_by_role("alert").filter(has_text="must be between 0.0 and 1.0")).to_be_visible()
    shoot(page, "alert-thresholds-error")
    page.get_by_label("Alert when the approval rate is below (0 to 1)").fill("0.5")
    page.get_by_label("... with at least this many decided payments").fill("3")
    page.get_by_role("button", name="Save thresholds").click()
    expect(page.get_by_role("status").filter(has_text="The alert thresholds are saved.")).to_be_visible()
    assert page.evaluate("window.__same_page") is True  # swapped in place
    shoot(page, "alert-thresholds")
    page.reload()
    expect(page.get_by_label("Alert when the approval rate is below (0 to 1)")).to_have_value("0.5")


def test_alert_thresholds_without_javascript(
    browser: Browser, live_server: str, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, tenant)
        page.goto("/portal/notifications/preferences")
        page.get_by_label("At most one alert of a kind every (minutes)").fill("30")
        page.get_by_role("button", name="Save thresholds").click()
        expect(page).to_have_url(re.compile(r"/portal/notifications/preferences\?thresholds_saved=1$"))
        expect(page.get_by_text("The alert thresholds are saved.")).to_be_visible()
        expect(page.get_by_label("At most one alert of a kind every (minutes)")).to_have_value("30")
    finally:
        context.close()


def test_the_bell_polls_and_operators_get_the_operations_link(
    page: Page, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notification_views, "BELL_POLL_SECONDS", 1)
    tenant = make.tenants(name="Platform")
    monkeypatch.setattr(
        clean, "settings", clean.settings.with_changes(operator_tenants=(tenant.tenant.slug,))
    )
    sign_in(page, tenant)
    expect(page.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    page.evaluate("window.__same_page = true")
    payouts_failed(clean, tenant)
    expect(page.get_by_role("link", name="Notifications 2 unread")).to_be_visible(timeout=10_000)
    assert page.evaluate("window.__same_page") is True  # no reload
    page.get_by_role("link", name="Operations").click()
    expect(page.get_by_role("heading", name="Operations status")).to_be_visible()
    expect(page.get_by_role("link", name="Operations")).to_have_attribute("aria-current", "page")
    shoot(page, "operations-link")
