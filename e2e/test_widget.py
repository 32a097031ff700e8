"""The widget on a merchant page of another origin (another port), in real Chromium.

A tiny merchant server loads kassa.js from the live Kassa (with its SRI hash, as docs/widget.md says)
and mounts the widget; the shopper pays inside the iframe and the merchant page hears ready, resize and
success. An origin outside the tenant's allowlist cannot frame the checkout at all.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, Response, expect
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response as WsgiResponse

from core.jobs.runtime import Runtime
from core.web.devserver import make_dev_server
from e2e.conftest import _free_port
from tests.factories import MadeTenant
from tests.fixtures import ROOT, Factories
from tests.payments_helpers import auth, create_session

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

MERCHANT_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Merchant shop</title></head>
<body>
  <h1>Merchant shop</h1>
  <div id="checkout"></div>
  <script src="{kassa}/static/widget/v1/kassa.js" integrity="{sri}" crossorigin="anonymous"></script>
  <script>
    window.events = [];
    window.frameLoaded = false;
    var params = new URLSearchParams(window.location.search);
    window.handle = Kassa(params.get("key")).mount("#checkout", {{ session: params.get("session") }});
    ["ready", "resize", "success", "failure", "cancel"].forEach(function (name) {{
      window.handle.on(name, function (data) {{ window.events.push({{ type: name, data: data }}); }});
    }});
    window.handle.iframe.addEventListener("load", function () {{ window.frameLoaded = true; }});
  </script>
</body>
</html>
"""


def _sri(path: str) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384((ROOT / path).read_bytes()).digest()).decode()


@pytest.fixture(scope="module")
def merchant(live_server: str) -> Iterator[str]:
    """A merchant's page on its own origin (another port of 127.0.0.1)."""
    html = MERCHANT_PAGE.format(kassa=live_server, sri=_sri("static/widget/v1/kassa.js"))

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> WsgiResponse:
        if request.path == "/":
            return WsgiResponse(html, mimetype="text/html")
        return WsgiResponse(status=204)

    port = _free_port()
    server = make_dev_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="merchant-page", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def allow(client: FlaskClient, tenant: MadeTenant, origins: list[str]) -> None:
    response = client.patch(
        "/api/v1/checkout/settings", json={"allowed_origins": origins}, headers=auth(tenant.keys.secret_key)
    )
    assert response.status_code == 200, response.json


def events(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("window.events"))


def test_the_widget_pays_on_another_origin_and_tells_the_page(
    page: Page, client: FlaskClient, make: Factories, merchant: str
) -> None:
    tenant = make.tenants(name="Mug Makers")
    allow(client, tenant, [merchant])
    cs = create_session(client, tenant, description="Ceramic mug", success_url=f"{merchant}/thanks")
    page.goto(f"{merchant}/?session={cs['id']}&key={tenant.keys.publishable_key}")
    frame = page.frame_locator("#checkout iframe")
    expect(frame.get_by_text("Mug Makers", exact=True)).to_be_visible(timeout=10_000)
    page.wait_for_function("window.events.some(e => e.type === 'ready')")
    # A test-mode session says so inside the widget, on every step, as on the hosted page.
    expect(frame.get_by_text("Test mode", exact=True)).to_be_visible()

    frame.get_by_label("Card number").fill("4242 4242 4242 4242")
    frame.get_by_label("Expiry date").fill("12 / 34")
    frame.get_by_label("Security code").fill("123")
    frame.get_by_label("Cardholder name").fill("Ada Lovelace")
    frame.get_by_role("button", name=re.compile(r"^Pay")).click()

    page.wait_for_function("window.events.some(e => e.type === 'success')", timeout=20_000)
    # The flow ended inside the iframe, on Kassa's receipt; the merchant page itself never navigated.
    expect(frame.get_by_role("heading", name="Payment successful")).to_be_visible()
    expect(frame.get_by_text("Test mode", exact=True)).to_be_visible()
    assert page.url.startswith(f"{merchant}/?session=")

    seen = events(page)
    kinds = [event["type"] for event in seen]
    assert kinds.count("ready") == 1 and "resize" in kinds and kinds.count("success") == 1
    success = next(event["data"] for event in seen if event["type"] == "success")
    assert success["session"] == cs["id"] and re.fullmatch(r"pay_[0-9a-z]{26}", success["payment"])
    paid = client.get(f"/api/v1/payments/{success['payment']}", headers=auth(tenant.keys.secret_key))
    assert paid.json["status"] == "succeeded" and paid.json["checkout_session"] == cs["id"]

    # The iframe follows the checkout's height.
    last_height = [event["data"]["height"] for event in seen if event["type"] == "resize"][-1]
    assert page.evaluate("document.querySelector('#checkout iframe').style.height") == f"{last_height}px"

    page.evaluate("window.handle.destroy()")
    assert page.evaluate("document.querySelectorAll('#checkout iframe').length") == 0


def test_cancel_in_the_widget_tells_the_page_and_keeps_the_iframe_on_kassa(
    page: Page, client: FlaskClient, make: Factories, merchant: str
) -> None:
    tenant = make.tenants(name="Mug Makers")
    allow(client, tenant, [merchant])
    cs = create_session(client, tenant, cancel_url=f"{merchant}/cart")
    page.goto(f"{merchant}/?session={cs['id']}&key={tenant.keys.publishable_key}")
    frame = page.frame_locator("#checkout iframe")
    frame.get_by_role("link", name="Cancel and return to Mug Makers").click()
    page.wait_for_function("window.events.some(e => e.type === 'cancel')", timeout=10_000)
    expect(frame.get_by_role("heading", name="Payment canceled")).to_be_visible()
    cancel = next(event["data"] for event in events(page) if event["type"] == "cancel")
    assert cancel == {"session": cs["id"]}
    assert page.url.startswith(f"{merchant}/?session=")  # the shop's page decides what comes next
    frame.get_by_role("link", name="Back to payment").click()
    expect(frame.get_by_label("Card number")).to_be_visible()
    still = client.get(f"/api/v1/checkout/sessions/{cs['id']}", headers=auth(tenant.keys.secret_key))
    assert still.json["status"] == "open"


@pytest.mark.parametrize("allowlist", [["https://shop.example"], []], ids=["other-origin", "empty"])
def test_an_origin_outside_the_allowlist_cannot_frame_it(
    browser: Browser,
    live_server: str,
    client: FlaskClient,
    make: Factories,
    merchant: str,
    clean: Runtime,
    allowlist: list[str],
) -> None:
    tenant = make.tenants()
    allow(client, tenant, allowlist)
    cs = create_session(client, tenant)
    context = browser.new_context()
    page = context.new_page()
    embed_responses: list[Response] = []
    page.on("response", lambda r: embed_responses.append(r) if "/embed/" in r.url else None)
    try:
        page.goto(f"{merchant}/?session={cs['id']}&key={tenant.keys.publishable_key}")
        page.wait_for_function("window.frameLoaded === true", timeout=10_000)
        page.wait_for_timeout(1000)  # room for any message the frame might (wrongly) send

        assert len(embed_responses) == 1
        csp = embed_responses[0].headers["content-security-policy"]
        expected = " ".join(allowlist) or "'none'"
        assert f"frame-ancestors {expected}" in csp
        assert events(page) == []  # not even `ready`: the checkout never ran in the frame
        child = next(f for f in page.frames if f is not page.main_frame)
        assert "/embed/" not in child.url  # Chromium replaced the refused page with its error page
        assert page.frame_locator("#checkout iframe").get_by_label("Card number").count() == 0
    finally:
        context.close()


def test_the_widget_refuses_a_secret_key_loudly(
    browser: Browser, client: FlaskClient, make: Factories, merchant: str, clean: Runtime
) -> None:
    tenant = make.tenants()
    context = browser.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    try:
        page.goto(f"{merchant}/?session=cs_bad&key={tenant.keys.secret_key}")
        message = page.evaluate(
            "() => { try { Kassa('sk_test_abc'); return 'no error'; } catch (e) { return e.message; } }"
        )
        assert "never put a secret key" in message
        assert any("never put a secret key" in text for text in console)
        assert page.evaluate("document.querySelectorAll('#checkout iframe').length") == 0
    finally:
        context.close()
