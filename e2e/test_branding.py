"""The tenant's logo loads on the hosted page in real Chromium, under the page's real CSP."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from tests.branding_images import JPEG, WEBP, data_url, png
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session

pytestmark = [pytest.mark.browser]


@pytest.mark.parametrize(
    ("image", "content_type"),
    [(png(96, 32, rgb=(200, 30, 60)), "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")],
    ids=["png", "jpeg", "webp"],
)
def test_the_logo_loads_on_the_hosted_page_under_its_csp(
    page: Page, client: FlaskClient, make: Factories, image: bytes, content_type: str
) -> None:
    tenant = make.tenants(name="Mug Makers")
    branded = client.patch(
        "/api/v1/checkout/settings",
        json={"logo": data_url(image, content_type)},
        headers=auth(tenant.keys.secret_key),
    )
    assert branded.status_code == 200, branded.json
    cs = create_session(client, tenant)
    response = page.goto(f"/pay/{cs['id']}")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "img-src 'self';" in csp, "the page runs under Kassa's own CSP, not a bypassed one"

    logo = page.get_by_role("img", name="Mug Makers")
    expect(logo).to_be_visible()
    logo.evaluate("img => img.decode()")  # resolves once decoded; rejects (fails here) if it cannot be
    loaded = logo.evaluate("img => ({complete: img.complete, width: img.naturalWidth, src: img.currentSrc})")
    assert loaded["complete"] and loaded["width"] > 0, loaded
    assert loaded["src"].startswith(f"{page.url.split('/pay/')[0]}/pay/{cs['id']}/logo?v="), loaded
    box = logo.bounding_box()
    assert box is not None and 0 < box["height"] <= 48, "checkout.css keeps it at most 3rem high"
    expect(page.get_by_text("Appears on your statement as MUG MAKERS")).to_be_visible()
