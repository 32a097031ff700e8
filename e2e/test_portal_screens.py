"""Every screen of the payments workspace in real Chromium at 1280 and 390 px: axe-core finds no serious
or critical violation, and nothing is wider than the window (tables scroll inside their frame).

With KASSA_WRITE_SCREENS=1 the walk also refreshes the pictures in docs/screens/portal-*.png (look at each
one after changing how a screen looks)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from e2e.portal_helpers import sign_in
from e2e.test_accessibility import AXE, assert_accessible
from tests.fixtures import Factories

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

SCREENS = Path(__file__).resolve().parent.parent / "docs" / "screens"
WIDTHS = {1280: 800, 390: 844}
WRITE = os.environ.get("KASSA_WRITE_SCREENS") == "1"


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed ({AXE} is missing): run `make install`.")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def audited(browser: Browser, live_server: str, clean: Runtime) -> Iterator[Page]:
    # axe-core is injected without Kassa's nonce: this context alone bypasses the CSP (see
    # e2e/test_accessibility.py, whose fixture this mirrors).
    context = browser.new_context(base_url=live_server, bypass_csp=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"browser errors: {errors}"


def look(page: Page, axe: str, name: str) -> None:
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        assert_accessible(page, axe, f"{name} at {width} px")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} at {width} px is {overflow} px wider than the window"
        if WRITE:
            page.screenshot(path=str(SCREENS / f"portal-{name}-{width}.png"), full_page=True)


def test_every_workspace_screen_is_accessible_and_fits(
    audited: Page, make: Factories, axe_source: str
) -> None:
    page = audited
    tenant = make.tenants(name="Bean There")
    make.payments(tenant=tenant, amount=1250, customer_email="ann@example.com")
    make.payments(tenant=tenant, amount=8900, failed=True)
    make.payments(tenant=tenant, amount=4000, card_number="4000 0000 0000 4954")
    authorized = make.payments(tenant=tenant, amount=4200, authorized=True).id
    cs = make.sessions(tenant=tenant, amount=3100, reference="ORDER-1001", customer_email="bo@example.com")
    paid = make.payments(tenant=tenant, session=cs, amount=3100, customer_email="bo@example.com").id
    refund = make.refunds(tenant=tenant, payment=None, amount=500)
    make.sessions(tenant=tenant, amount=990, reference="ORDER-1002")

    sign_in(page, tenant, "/portal/payments")
    expect(page.locator("#payment-rows tbody tr")).to_have_count(6)
    look(page, axe_source, "payments")
    page.goto("/portal/payments?status=failed&amount_min=50")
    look(page, axe_source, "payments-filtered")
    page.goto("/portal/payments?q=no-such-order")
    look(page, axe_source, "payments-empty")
    page.goto("/portal/payments?amount_min=ten")
    look(page, axe_source, "payments-filter-error")
    page.goto(f"/portal/payments/{paid}")
    look(page, axe_source, "payment")
    page.get_by_label("Amount to refund (EUR)").fill("10")
    page.get_by_role("button", name="Refund…").click()
    look(page, axe_source, "refund-confirm")
    page.get_by_role("button", name="Refund €10.00").click()
    expect(page.get_by_text("Refunded €10.00", exact=False)).to_be_visible()
    look(page, axe_source, "payment-refunded")
    page.goto(f"/portal/payments/{authorized}")
    look(page, axe_source, "payment-authorized")
    page.goto("/portal/refunds")
    look(page, axe_source, "refunds")
    page.goto(f"/portal/refunds/{refund.id}")
    look(page, axe_source, "refund")
    page.goto("/portal/checkout-sessions")
    look(page, axe_source, "checkout-sessions")
    page.goto(f"/portal/checkout-sessions/{cs.id}")
    look(page, axe_source, "checkout-session")
    page.goto("/portal/")
    look(page, axe_source, "home")
    page.goto("/portal/payments")
    page.get_by_role("switch", name="Test mode").click()
    expect(page.get_by_role("switch", name="Test mode")).to_have_attribute("aria-checked", "false")
    look(page, axe_source, "payments-live-empty")
    page.goto("/portal/")
    look(page, axe_source, "home-live")
