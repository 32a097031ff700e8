"""A test-mode checkout says so on every page, in a badge; a live one never does."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tests.fixtures import Factories
from tests.live_mode import create_live_session
from tests.payments_helpers import auth, confirm, create_session, work_until_settled

BADGE = re.compile(r'<p class="test-mode-badge"[^>]*><span>Test mode</span>')
SHOP = "https://shop.example"


def _test_mode_pages(client: FlaskClient, rt: Runtime, make: Factories) -> dict[str, str]:
    tenant = make.tenants()
    allowed = client.patch(
        "/api/v1/checkout/settings", json={"allowed_origins": [SHOP]}, headers=auth(tenant.keys.secret_key)
    )
    assert allowed.status_code == 200, allowed.json
    pages = {}
    cs = create_session(client, tenant)["id"]
    pages |= {"card": f"/pay/{cs}", "wallet": f"/pay/{cs}?method=wallet", "bank": f"/pay/{cs}?method=bank"}
    pages["embedded card (the widget)"] = f"/embed/{cs}?origin={SHOP}"
    declined = create_session(client, tenant)["id"]
    failed = confirm(rt, tenant, declined, card_number="4000 0000 0000 0002")
    assert str(work_until_settled(rt, tenant, failed).status) == "failed"
    pages["declined"] = f"/pay/{declined}?failed={failed}&method=card"
    three_ds = create_session(client, tenant)["id"]
    challenged = confirm(rt, tenant, three_ds, card_number="4000 0027 6000 3184")
    assert str(work_until_settled(rt, tenant, challenged).status) == "requires_action"
    pages["3DS"] = f"/pay/{three_ds}/payments/{challenged}/challenge"
    for method in ("wallet", "bank"):
        cs_id = create_session(client, tenant)["id"]
        payment = confirm(rt, tenant, cs_id, method=method)
        assert str(work_until_settled(rt, tenant, payment).status) == "requires_action"
        pages[f"{method} approval"] = f"/pay/{cs_id}/payments/{payment}/approve"
    paid = create_session(client, tenant)["id"]
    assert str(work_until_settled(rt, tenant, confirm(rt, tenant, paid)).status) == "succeeded"
    pages["receipt"] = f"/pay/{paid}/receipt"
    pages["embedded receipt (the widget)"] = f"/embed/{paid}/receipt?origin={SHOP}"
    link = client.post(
        "/api/v1/payment_links",
        json={"amount": None, "currency": "EUR", "description": "Donation"},
        headers=auth(tenant.keys.secret_key),
    )
    assert link.status_code == 201, link.json
    pages["payment link, shopper's amount"] = f"/l/{link.json['url'].rsplit('/l/', 1)[1]}"
    pending = create_session(client, tenant)["id"]  # last: nothing works the queue after it
    pages["processing"] = f"/pay/{pending}/payments/{confirm(rt, tenant, pending)}"
    return pages


def test_every_test_mode_page_shows_the_badge_once(
    client: FlaskClient, clean: Runtime, make: Factories
) -> None:
    for name, url in _test_mode_pages(client, clean, make).items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        page = response.get_data(as_text=True)
        assert len(BADGE.findall(page)) == 1, f"{name} ({url}) has no TEST MODE badge"
        # The badge comes first in the card, before the shop's name, so it is read first too.
        assert page.index("test-mode-badge") < page.index('class="merchant-name"'), name


@pytest.mark.parametrize("method", ["card", "wallet", "bank"])
def test_a_live_checkout_shows_no_badge(
    client: FlaskClient, clean: Runtime, make: Factories, method: str
) -> None:
    cs = create_live_session(clean, make.tenants())
    page = client.get(f"/pay/{cs}?method={method}").get_data(as_text=True)
    assert "Pay €25.00" in page
    assert "test-mode-badge" not in page and "Test mode" not in page


def test_the_badge_is_in_the_sessions_language(client: FlaskClient, make: Factories) -> None:
    cs = create_session(client, make.tenants(), locale="de")
    page = client.get(f"/pay/{cs['id']}").get_data(as_text=True)
    assert "<span>Testmodus</span>" in page and "Es wird kein echtes Geld belastet." in page
