"""The embed page `/embed/<cs>`: framed only by the tenant's allowed origins, talks only to them, and
keeps the whole flow in embed mode; plus the widget's published SRI hash."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from typing import Any

from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tests.factories import MadeTenant
from tests.fixtures import ROOT, Factories
from tests.payments_helpers import auth, confirm, create_session, work_until_settled

SHOP = "https://shop.example"
EMBED_SCRIPT = re.compile(r'<script src="/static/widget/v1/embed\.js"[^>]*>')


def allow(client: FlaskClient, tenant: MadeTenant, *origins: str) -> None:
    response = client.patch(
        "/api/v1/checkout/settings",
        json={"allowed_origins": list(origins)},
        headers=auth(tenant.keys.secret_key),
    )
    assert response.status_code == 200, response.json


def frame_ancestors(response: Any) -> str:
    csp = response.headers["Content-Security-Policy"]
    return next(part for part in csp.split("; ") if part.startswith("frame-ancestors")).split(" ", 1)[1]


def embed_script(text: str) -> dict[str, Any]:
    tag = EMBED_SCRIPT.search(text)
    assert tag is not None, "the embed page loads static/widget/v1/embed.js"
    attrs = dict(re.findall(r'([a-z-]+)="([^"]*)"', tag.group(0)))
    return {
        "origin": html.unescape(attrs["data-origin"]),
        "event": json.loads(html.unescape(attrs["data-event"])),
        "nonce": attrs.get("nonce"),
        "integrity": attrs.get("integrity"),
    }


def test_embed_page_is_framed_only_by_the_allowlist(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    allow(client, tenant, SHOP, "http://localhost:3000")
    cs = create_session(client, tenant)
    response = client.get(f"/embed/{cs['id']}?origin={SHOP}")
    assert response.status_code == 200
    assert frame_ancestors(response) == f"http://localhost:3000 {SHOP}"
    assert "X-Frame-Options" not in response.headers
    text = response.get_data(as_text=True)
    assert 'class="checkout embedded"' in text
    script = embed_script(text)
    assert script["origin"] == SHOP and script["event"] == {}
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert nonce is not None and script["nonce"] == nonce.group(1)
    assert script["integrity"] and script["integrity"].startswith("sha384-")


def test_with_an_empty_allowlist_nothing_may_frame_it(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    response = client.get(f"/embed/{cs['id']}?origin={SHOP}")
    assert frame_ancestors(response) == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert embed_script(response.get_data(as_text=True))["origin"] == ""


def test_pay_is_never_framed_and_loads_no_embed_script(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    allow(client, tenant, SHOP)
    cs = create_session(client, tenant)
    response = client.get(f"/pay/{cs['id']}?origin={SHOP}")
    assert frame_ancestors(response) == "'none'" and response.headers["X-Frame-Options"] == "DENY"
    text = response.get_data(as_text=True)
    assert "embed.js" not in text and 'class="checkout"' in text
    assert 'action="/pay/' in text and "/embed/" not in text


def test_an_origin_outside_the_allowlist_gets_no_messages(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    allow(client, tenant, SHOP)
    cs = create_session(client, tenant)
    for origin in ("https://evil.example", "https://shop.example.evil.example", "javascript:alert(1)", "*"):
        response = client.get(f"/embed/{cs['id']}", query_string={"origin": origin})
        assert response.status_code == 200
        assert embed_script(response.get_data(as_text=True))["origin"] == ""
        assert frame_ancestors(response) == SHOP


def test_every_step_stays_in_embed_mode(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    allow(client, tenant, SHOP)
    cs = create_session(client, tenant)
    text = client.get(f"/embed/{cs['id']}?origin={SHOP}").get_data(as_text=True)
    assert f'action="/embed/{cs["id"]}?origin={SHOP}"' in text
    assert f'href="/embed/{cs["id"]}?method=wallet&amp;origin={SHOP}"' in text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text)
    assert token is not None
    posted = client.post(
        f"/embed/{cs['id']}?origin={SHOP}",
        data={
            "csrf_token": token.group(1),
            "method": "card",
            "number": "4000 0027 6000 3184",
            "expiry": "12 / 34",
            "cvc": "123",
            "name": "Ada Lovelace",
        },
    )
    assert posted.status_code == 303
    assert re.fullmatch(rf"/embed/{cs['id']}/payments/pay_[0-9a-z]{{26}}\?origin={SHOP}", posted.location)
    assert frame_ancestors(posted) == SHOP


def test_success_and_failure_are_told_to_the_parent(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    allow(client, tenant, SHOP)
    cs = create_session(client, tenant, success_url="https://shop.example/thanks")
    declined = confirm(clean, tenant, cs["id"], card_number="4000 0000 0000 0002")
    assert str(work_until_settled(clean, tenant, declined).status) == "failed"
    page = client.get(f"/embed/{cs['id']}?failed={declined}&origin={SHOP}")
    event = embed_script(page.get_data(as_text=True))["event"]
    assert event["type"] == "failure" and event["code"] == "card_declined"
    assert event["message"].startswith("Your card was declined.")

    paid = confirm(clean, tenant, cs["id"])
    assert str(work_until_settled(clean, tenant, paid).status) == "succeeded"
    status = client.get(f"/embed/{cs['id']}/payments/{paid}?origin={SHOP}")
    # Inside the iframe the flow ends on the embed receipt, not on the merchant's success_url.
    assert status.status_code == 302 and status.location == f"/embed/{cs['id']}/receipt?origin={SHOP}"
    receipt = client.get(status.location)
    assert receipt.status_code == 200 and frame_ancestors(receipt) == SHOP
    script = embed_script(receipt.get_data(as_text=True))
    assert script["event"] == {"type": "success", "session": cs["id"], "payment": paid}
    hosted = client.get(f"/pay/{cs['id']}")
    assert hosted.location.startswith("https://shop.example/thanks?session_id=")


def test_cancel_in_the_iframe_is_told_to_the_parent_not_navigated(
    client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants()
    allow(client, tenant, SHOP)
    cs = create_session(client, tenant, cancel_url="https://shop.example/cart")
    embedded = client.get(f"/embed/{cs['id']}?origin={SHOP}").get_data(as_text=True)
    assert f'href="/embed/{cs["id"]}/cancel?origin={SHOP}"' in embedded
    canceled = client.get(f"/embed/{cs['id']}/cancel?origin={SHOP}")
    assert canceled.status_code == 200 and frame_ancestors(canceled) == SHOP
    assert embed_script(canceled.get_data(as_text=True))["event"] == {"type": "cancel", "session": cs["id"]}
    hosted = client.get(f"/pay/{cs['id']}/cancel")
    assert hosted.status_code == 302 and hosted.location == "https://shop.example/cart"
    bare = create_session(client, tenant)  # no cancel_url: the widget still offers to cancel
    assert f"/embed/{bare['id']}/cancel" in client.get(f"/embed/{bare['id']}?origin={SHOP}").get_data(
        as_text=True
    )
    assert "/cancel" not in client.get(f"/pay/{bare['id']}").get_data(as_text=True)


def test_the_widgets_publishable_key_must_match_the_session(client: FlaskClient, make: Factories) -> None:
    tenant, other = make.tenants(), make.tenants()
    allow(client, tenant, SHOP)
    cs = create_session(client, tenant)
    good = client.get(f"/embed/{cs['id']}", query_string={"origin": SHOP, "key": tenant.keys.publishable_key})
    assert good.status_code == 200
    for key in (other.keys.publishable_key, tenant.keys.secret_key, "pk_test_nope"):
        response = client.get(f"/embed/{cs['id']}", query_string={"origin": SHOP, "key": key})
        assert response.status_code == 404, key
        assert "publishable key belongs to another account" in response.get_data(as_text=True)


def test_an_unknown_session_is_not_framed(client: FlaskClient) -> None:
    response = client.get(f"/embed/cs_01jd8x000000000000000000000000000000?origin={SHOP}")
    assert response.status_code == 404 and frame_ancestors(response) == "'none'"


def _sri(path: str) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384((ROOT / path).read_bytes()).digest()).decode()


def test_the_documented_sri_hash_is_the_widgets_real_one() -> None:
    doc = (ROOT / "docs" / "widget.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"sha384-[A-Za-z0-9+/=]{64}", doc))
    assert documented == {_sri("static/widget/v1/kassa.js")}, (
        "static/widget/v1/kassa.js changed: put its new hash in docs/widget.md (see the command there)"
    )
