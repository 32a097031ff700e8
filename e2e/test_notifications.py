"""The notification bell, the notifications page and the preferences page in real Chromium, with
JavaScript (htmx swaps, no page load) and without (plain forms and redirects); screenshots at 1280 and
390 px wide go to test-results/ (docs/screens/ holds the ones looked at)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from tests.core.test_notifications import PAYOUT, emit, notifications
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import work

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "test-results"
WIDTHS = {1280: 800, 390: 844}


def sign_in(page: Page, tenant: MadeTenant) -> None:
    page.goto("/portal/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(tenant.code())
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/portal/$"))


def payouts_failed(rt: Runtime, tenant: MadeTenant) -> None:
    # One after the other, each heard before the next is emitted: "newest first" is then the second,
    # whichever worker (this one or the live server's) takes which job.
    emit(rt, tenant, "payout.failed", PAYOUT)
    _work_until(rt, tenant, 1)
    emit(rt, tenant, "payout.failed", {**PAYOUT, "id": "po_01second", "amount": 98000})
    _work_until(rt, tenant, 2)


def _work_until(rt: Runtime, tenant: MadeTenant, count: int) -> None:
    """Work until the tenant has `count` notifications (the session's background worker may be the one
    that takes the job)."""
    deadline = time.monotonic() + 10
    while len(notifications(rt, tenant)) < count and time.monotonic() < deadline:
        work(rt)
        time.sleep(0.05)
    assert len(notifications(rt, tenant)) == count


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True, caret="initial")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_the_bell_the_page_and_mark_read_with_htmx(page: Page, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants(name="Tea & Cake")
    payouts_failed(clean, tenant)
    sign_in(page, tenant)
    bell = page.get_by_role("link", name="Notifications 2 unread")
    expect(bell).to_be_visible()
    bell.click()
    expect(page.get_by_role("heading", name="Notifications", exact=True)).to_be_visible()
    items = page.get_by_role("list", name="Notifications, newest first").get_by_role("listitem")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("€980.00")
    shoot(page, "notifications")

    # htmx: the item turns read in place, the bell counts one, and no page was loaded.
    page.evaluate("window.__same_page = true")
    items.first.get_by_role("button", name=re.compile("^Mark read")).click()
    expect(items.first).to_contain_text("Read")
    expect(page.get_by_role("link", name="Notifications 1 unread")).to_be_visible()
    assert page.evaluate("window.__same_page") is True
    page.reload()
    expect(page.get_by_role("link", name="Notifications 1 unread")).to_be_visible()
    page.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Mark read"))).to_have_count(0)


def test_preferences_with_htmx(page: Page, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    sign_in(page, tenant)
    page.goto("/portal/notifications/preferences")
    email = page.get_by_label("A payout failed: by email")
    expect(email).to_be_checked()
    shoot(page, "notification-preferences")
    email.uncheck()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status").filter(has_text="Your preferences are saved.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("A payout failed: by email")).not_to_be_checked()
    expect(page.get_by_label("A payout failed: in the portal")).to_be_checked()


def test_everything_works_without_javascript(
    browser: Browser, live_server: str, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    payouts_failed(clean, tenant)
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, tenant)
        page.get_by_role("link", name="Notifications 2 unread").click()
        page.get_by_role("button", name=re.compile("^Mark read")).first.click()
        expect(page).to_have_url(re.compile(r"/portal/notifications$"))
        expect(page.get_by_role("link", name="Notifications 1 unread")).to_be_visible()
        page.get_by_role("link", name="Preferences").click()
        page.get_by_label("Risk blocks are spiking: in the portal").uncheck()
        page.get_by_role("button", name="Save preferences").click()
        expect(page.get_by_text("Your preferences are saved.")).to_be_visible()
        expect(page.get_by_label("Risk blocks are spiking: in the portal")).not_to_be_checked()
    finally:
        context.close()


def test_the_operations_page_for_an_operator(
    page: Page, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants(name="Platform")
    monkeypatch.setattr(
        clean, "settings", clean.settings.with_changes(operator_tenants=(tenant.tenant.slug,))
    )
    sign_in(page, tenant)
    page.goto("/portal/operations")
    expect(page.get_by_role("heading", name="Operations status")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"^payments"))).to_be_visible()
    expect(page.get_by_role("heading", name="Newest failed jobs")).to_be_visible()
    shoot(page, "operations")
