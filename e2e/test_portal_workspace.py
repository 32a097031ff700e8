"""The payments workspace in real Chromium: HTMX filters that keep their state in the URL, search, the
CSV of the filtered list, a partial refund with its confirmation, capture, the test/live switch, and the
same flows with JavaScript off."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from e2e.portal_helpers import sign_in
from tests.fixtures import Factories

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]


def table_ids(page: Page) -> list[str]:
    return page.locator("#payment-rows tbody tr td:nth-child(3) code").all_inner_texts()


def test_filter_with_htmx_reload_the_url_search_and_export(page: Page, make: Factories) -> None:
    tenant = make.tenants()
    small = make.payments(tenant=tenant, amount=900).id
    mid = make.payments(tenant=tenant, amount=4500).id
    big = make.payments(tenant=tenant, amount=15000).id
    declined = make.payments(tenant=tenant, amount=5000, failed=True).id
    referenced = make.payments(
        tenant=tenant,
        session=make.sessions(tenant=tenant, amount=6000, reference="ORDER-4411"),
        card_number="5555 5555 5555 4444",
    ).id
    sign_in(page, tenant, "/portal/payments")
    expect(page.locator("#payment-rows tbody tr")).to_have_count(5)
    page.evaluate("window.__sameDocument = true")

    page.get_by_label("Status").select_option("succeeded")
    page.get_by_text("More filters").click()
    page.get_by_label("Amount from").fill("10")
    page.get_by_label("Amount to").fill("100")
    page.get_by_label("Amount to").press("Tab")  # change
    expect(page).to_have_url(re.compile(r"status=succeeded.*amount_min=10.*amount_max=100|amount_max=100"))
    expect(page.locator("#payment-rows tbody tr")).to_have_count(2)
    assert set(table_ids(page)) == {mid, referenced}
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the rows: no page load
    assert declined not in table_ids(page) and small not in table_ids(page) and big not in table_ids(page)

    # The CSV link carries the filters: exactly the rows shown.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [r["id"] for r in exported] == table_ids(page)

    url = page.url
    page.reload()
    assert page.evaluate("window.__sameDocument") is None  # a real reload this time
    expect(page.get_by_label("Status")).to_have_value("succeeded")
    expect(page.get_by_label("Amount from")).to_have_value("10")
    assert page.url == url and set(table_ids(page)) == {mid, referenced}

    page.get_by_role("link", name="Clear filters").first.click()
    expect(page.locator("#payment-rows tbody tr")).to_have_count(5)
    page.get_by_label("Search").fill("4444")
    expect(page.locator("#payment-rows tbody tr")).to_have_count(1)
    assert table_ids(page) == [referenced]
    page.get_by_label("Search").fill("ORDER-4411")
    expect(page.locator("#payment-rows tbody tr td:nth-child(3) code")).to_have_text([referenced])
    expect(page).to_have_url(re.compile(r"q=ORDER-4411"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"q=4444"))


def test_refund_part_of_a_payment_and_capture_a_manual_one(page: Page, make: Factories) -> None:
    tenant = make.tenants()
    paid = make.payments(tenant=tenant, amount=2500).id
    authorized = make.payments(tenant=tenant, amount=4200, authorized=True).id
    sign_in(page, tenant, f"/portal/payments/{paid}")
    page.get_by_label("Amount to refund (EUR)").fill("5.25")
    page.get_by_role("button", name="Refund…").click()
    expect(page.get_by_role("heading", name="Refund €5.25?")).to_be_visible()
    expect(page.get_by_text("Left after this refund")).to_be_visible()
    page.get_by_role("button", name="Refund €5.25").click()
    expect(page.get_by_text(re.compile(r"Refunded €5\.25 \(re_"))).to_be_visible()
    timeline = page.locator("section", has=page.get_by_role("heading", name="Timeline"))
    expect(timeline).to_contain_text("Refund of €5.25")
    expect(timeline).to_contain_text("Ledger: Refund booked")
    expect(timeline).to_contain_text("partially refunded")
    ledger = page.locator("section", has=page.get_by_role("heading", name="Ledger entries"))
    expect(ledger).to_contain_text("refunds")
    expect(ledger).to_contain_text("€5.25")

    page.goto(f"/portal/payments/{authorized}")
    page.get_by_role("button", name="Capture €42.00").click()
    expect(page.get_by_text("Captured €42.00.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("succeeded")
    expect(page.get_by_role("button", name="Refund…")).to_be_visible()


def test_the_header_switch_changes_the_mode(page: Page, make: Factories) -> None:
    tenant = make.tenants()
    test_payment = make.payments(tenant=tenant, pending=True).id
    sign_in(page, tenant, "/portal/payments")
    expect(page.get_by_text("You are viewing test data.")).to_be_visible()
    switch = page.get_by_role("switch", name="Test mode")
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("#payment-rows")).to_contain_text(test_payment)
    switch.click()
    expect(page.get_by_role("switch", name="Test mode")).to_have_attribute("aria-checked", "false")
    expect(page.get_by_text("You are viewing test data.")).to_have_count(0)
    expect(page.locator("#payment-rows")).not_to_contain_text(test_payment)
    expect(page.locator("#payment-rows")).to_contain_text("No live payments yet")


def test_filter_and_refund_without_javascript(
    browser: Browser, live_server: str, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    paid = make.payments(tenant=tenant, amount=3000).id
    declined = make.payments(tenant=tenant, failed=True).id
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, tenant, "/portal/payments")
        page.get_by_label("Status").select_option("failed")
        page.get_by_role("button", name="Apply filters").click()
        expect(page).to_have_url(re.compile(r"status=failed"))
        expect(page.locator("#payment-rows tbody tr td:nth-child(3) code")).to_have_text([declined])
        page.goto(f"/portal/payments/{paid}")
        page.get_by_label("Amount to refund (EUR)").fill("10")
        page.get_by_role("button", name="Refund…").click()
        page.get_by_role("button", name="Refund €10.00").click()
        expect(page.get_by_text(re.compile(r"Refunded €10\.00"))).to_be_visible()
        page.get_by_role("switch", name="Test mode").click()
        expect(page.get_by_role("switch", name="Test mode")).to_have_attribute("aria-checked", "false")
    finally:
        context.close()
