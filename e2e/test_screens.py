"""Screenshots of the receipt, expired and unknown-link (404) pages at 1280 and 390 px, for docs/screens/.

Opt-in: `KASSA_SCREENS=docs/screens pytest e2e/test_screens.py` (re)writes them; without it the test skips,
so the suite never rewrites committed files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, expect

from core.jobs.runtime import Runtime
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

WIDTHS = (1280, 390)


@pytest.fixture
def screens() -> Path:
    target = os.environ.get("KASSA_SCREENS")
    if not target:
        pytest.skip("set KASSA_SCREENS=docs/screens to write the screenshots")
    path = Path(target)
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_screens_of_the_receipt_expired_and_404_pages(
    browser: Browser, live_server: str, clean: Runtime, client: FlaskClient, make: Factories, screens: Path
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
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
        for name, url in pages.items():
            page.goto(url)
            page.screenshot(path=str(screens / f"{name}-{width}.png"), full_page=True)
    context.close()
