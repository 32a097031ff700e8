"""No response of the checkout, the embed page, the payment links, the API or the portal ever carries a
card number or security code the shopper typed: not after a form error, a decline or a 3DS page, not in
a body, a header or a redirect. (tests/core/test_card_data_never_leaks.py searches the database, Redis
and the logs.)"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tests.factories import MadeTenant
from tests.fixtures import CheckedClient, Factories
from tests.payments_helpers import auth, create_session, work_until_settled
from tests.portal.test_sign_in import sign_in

SHOP = "https://shop.example"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
GOOD_EXPIRY = "12 / 34"


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


class Recorder(CheckedClient):
    """A test client that keeps every response it got, to search them all at the end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, Any]] = []

    def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = super().open(*args, **kwargs)
        self.seen.append((f"{response.request.method} {response.request.full_path}", response))
        return response


@dataclass
class Typed:
    """Every card number and security code the test typed into a form."""

    pans: set[str] = field(default_factory=set)
    cvcs: set[str] = field(default_factory=set)
    posts: int = 0


@pytest.fixture
def shopper(app: Flask, clean: Runtime) -> Recorder:
    return Recorder(app, app.response_class, use_cookies=True)


def _local(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def follow(client: Recorder, response: Any, *, htmx: bool = False) -> Any:
    """Follow redirects on Kassa (each hop is recorded), stopping at the merchant's success URL."""
    headers = {"HX-Request": "true"} if htmx else {}
    for _ in range(10):
        target = response.headers.get("HX-Redirect") or (
            response.location if response.status_code in (301, 302, 303) else None
        )
        if target is None or target.startswith(SHOP):
            return response
        response = client.get(_local(target), headers=headers)
    raise AssertionError("redirect loop")


def card_form(
    client: Recorder,
    typed: Typed,
    page: str,
    *,
    number: str,
    cvc: str,
    expiry: str = GOOD_EXPIRY,
    name: str = "Ada Lovelace",
    htmx: bool = False,
    csrf: str | None = None,
    **extra: str,
) -> Any:
    """Open `page` (a hosted or embed page URL), then post its card form like a browser would."""
    typed.pans.add(number)
    if cvc:
        typed.cvcs.add(cvc)
    opened = client.get(page)
    assert opened.status_code == 200, opened.get_data(as_text=True)
    token = CSRF.search(opened.get_data(as_text=True))
    assert token is not None
    data = {"csrf_token": csrf or token.group(1), "method": "card", "number": number, "cvc": cvc}
    data |= {"expiry": expiry, "name": name, **extra}
    headers = {"HX-Request": "true"} if htmx else {}
    split = urlsplit(page)
    # Each post from its own address: the per-IP attempt limit must not cut the walk short.
    typed.posts += 1
    address = f"203.0.113.{typed.posts % 250 + 1}"
    return client.post(
        split.path + (f"?{split.query}" if split.query else ""),
        data=data,
        headers=headers,
        environ_overrides={"REMOTE_ADDR": address},
    )


def assert_re_rendered_without_card_data(response: Any, *, expiry: str, name: str) -> None:
    """A form error: the page again, the number and CVC empty (autocomplete kept), expiry and name kept."""
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in text or 'class="error-box"' in text, text
    for field_name, autocomplete in (("number", "cc-number"), ("cvc", "cc-csc")):
        tag = re.search(rf'<input[^>]*name="{field_name}"[^>]*>', text)
        assert tag is not None, field_name
        assert 'value=""' in tag.group(0) and f'autocomplete="{autocomplete}"' in tag.group(0)
    if expiry:
        assert re.search(rf'<input[^>]*name="expiry"[^>]*value="{re.escape(expiry)}"', text)
    if name:
        assert re.search(rf'<input[^>]*name="name"[^>]*value="{re.escape(name)}"', text)


def payment_of(response: Any) -> str:
    match = re.search(r"/payments/(pay_[0-9a-z]+)", response.location)
    assert match is not None, response.location
    return match.group(1)


def form_errors(client: Recorder, typed: Typed, page: str, *, htmx: bool = False) -> None:
    """Every kind of form error on one page, each with its own card number and security code."""
    cases: list[dict[str, str]] = [
        # Luhn-invalid number (the payment service refuses it; no payment is made)
        {"number": "4242 4242 4242 4241", "cvc": "947"},
        # an expiry month that does not exist, and an expiry in the past
        {"number": "3782 822463 10005", "cvc": "7351", "expiry": "13 / 29"},
        {"number": "3714 496353 98431", "cvc": "8264", "expiry": "01 / 20"},
        # an expiry the form cannot read
        {"number": "6011 1111 1111 1117", "cvc": "863", "expiry": "1229"},
        # no name
        {"number": "5555 5555 5555 4444", "cvc": "274", "name": ""},
        # no security code, and one of the wrong length for the brand
        {"number": "4111 1111 1111 1111", "cvc": ""},
        {"number": "4012 8888 8888 1881", "cvc": "0519"},
        # a security code that is not digits
        {"number": "5105 1051 0510 5100", "cvc": "48l"},
    ]
    for case in cases:
        number, cvc = case.pop("number"), case.pop("cvc")
        assert luhn_valid(number) == (number != "4242 4242 4242 4241"), number
        response = card_form(client, typed, page, number=number, cvc=cvc, htmx=htmx, **case)
        assert_re_rendered_without_card_data(
            response, expiry=case.get("expiry", GOOD_EXPIRY), name=case.get("name", "Ada Lovelace")
        )
    # A stale CSRF token: the same page, refused, with nothing typed in it sent back.
    forged = card_form(client, typed, page, number="3566 0020 2036 0505", cvc="662", csrf="forged", htmx=htmx)
    assert forged.status_code == 200 and "csrf_token" in forged.get_data(as_text=True)


def pay_to_the_end(
    client: Recorder, clean: Runtime, tenant: MadeTenant, typed: Typed, page: str, *, number: str, cvc: str
) -> Any:
    """Post the card form, let the worker settle the payment, and follow the shopper to the next page."""
    posted = card_form(client, typed, page, number=number, cvc=cvc)
    assert posted.status_code == 303, posted.get_data(as_text=True)
    work_until_settled(clean, tenant, payment_of(posted))
    return follow(client, posted)


def test_no_response_carries_a_typed_card_number_or_security_code(
    shopper: Recorder, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    typed = Typed()
    # Names without digits: a numbered "Shop 571" on the page would read as a typed security code.
    tenant = make.tenants(name="Echo Shop", slug="echo-shop")
    us_tenant = make.tenants(name="Echo Shop US", slug="echo-shop-us", country="US", currency="USD")
    key = {"Authorization": f"Bearer {tenant.keys.secret_key}"}
    allowed = client.patch("/api/v1/checkout/settings", json={"allowed_origins": [SHOP]}, headers=key)
    assert allowed.status_code == 200

    # The hosted page without JavaScript, the same with htmx's header, and the embed page.
    for page, htmx in (
        (f"/pay/{create_session(client, tenant)['id']}", False),
        (f"/pay/{create_session(client, tenant)['id']}", True),
        (f"/embed/{create_session(client, tenant)['id']}?origin={SHOP}", False),
    ):
        form_errors(shopper, typed, page, htmx=htmx)

    # The postal code the rules require: missing, then too long.
    us_page = f"/pay/{create_session(client, us_tenant)['id']}"
    for postal_code in ("", "9" * 13):
        response = card_form(
            shopper, typed, us_page, number="3530 1113 3330 0000", cvc="571", postal_code=postal_code
        )
        assert_re_rendered_without_card_data(response, expiry=GOOD_EXPIRY, name="Ada Lovelace")

    # A decline: back on the form with the reason.
    declined_page = f"/pay/{create_session(client, tenant)['id']}"
    declined = pay_to_the_end(
        shopper, clean, tenant, typed, declined_page, number="4000 0000 0000 0002", cvc="318"
    )
    assert "declined" in declined.get_data(as_text=True)
    assert_re_rendered_without_card_data(declined, expiry="", name="")

    # 3DS: the challenge page, failed once (back on the form), then completed; the polling status page
    # with htmx in between.
    for page in (
        f"/pay/{create_session(client, tenant)['id']}",
        f"/embed/{create_session(client, tenant)['id']}?origin={SHOP}",
    ):
        for result in ("failed", "passed"):
            challenge = pay_to_the_end(
                shopper, clean, tenant, typed, page, number="4000 0027 6000 3184", cvc="629"
            )
            text = challenge.get_data(as_text=True)
            assert "Confirm it" in text, text
            token = CSRF.search(text)
            assert token is not None
            action = re.search(r'<form method="post" action="([^"]+)"', text)
            assert action is not None
            answered = shopper.post(
                action.group(1).replace("&amp;", "&"), data={"csrf_token": token.group(1), "result": result}
            )
            status_url = _local(answered.location)
            polled = shopper.get(status_url, headers={"HX-Request": "true"})
            work_until_settled(clean, tenant, payment_of(answered))
            follow(shopper, shopper.get(status_url, headers={"HX-Request": "true"}), htmx=True)
            follow(shopper, polled)

    # Success, to the receipt page and, with a success URL, to the merchant (the redirect is searched too).
    for page in (
        f"/pay/{create_session(client, tenant)['id']}",
        f"/embed/{create_session(client, tenant)['id']}?origin={SHOP}",
        f"/pay/{create_session(client, tenant, success_url=f'{SHOP}/thanks')['id']}",
    ):
        done = pay_to_the_end(shopper, clean, tenant, typed, page, number="3782 8224 6310 005", cvc="7351")
        assert "Payment successful" in done.get_data(as_text=True) or done.location.startswith(SHOP)

    # Payment links: a fixed amount straight to the hosted page, a chosen amount through its form.
    fixed = client.post("/api/v1/payment_links", json={"amount": 1500, "currency": "EUR"}, headers=key)
    opened = follow(shopper, shopper.get(urlsplit(fixed.json["url"]).path))
    form_errors(shopper, typed, opened.request.full_path.rstrip("?"))
    chosen = client.post("/api/v1/payment_links", json={"currency": "EUR"}, headers=key)
    link_path = urlsplit(chosen.json["url"]).path
    token = CSRF.search(shopper.get(link_path).get_data(as_text=True))
    assert token is not None
    hosted = shopper.post(link_path, data={"csrf_token": token.group(1), "custom_amount": "12.50"})
    page = _local(hosted.location)
    card_form(shopper, typed, page, number="4000 0566 5566 5557", cvc="395")
    pay_to_the_end(shopper, clean, tenant, typed, page, number="4000 0566 5566 5556", cvc="395")

    # What the merchant sees afterwards: every API answer about these payments, and the portal's pages.
    for made in (tenant, us_tenant):
        headers = auth(made.keys.secret_key)
        for path in ("/api/v1/payments", "/api/v1/checkout/sessions", "/api/v1/events"):
            listed = shopper.get(f"{path}?limit=100", headers=headers)
            assert listed.status_code == 200
            for item in listed.json["data"]:
                shopper.get(f"{path}/{item['id']}", headers=headers)
        shopper.get("/api/v1/balance_transactions?limit=100", headers=headers)
    sign_in(shopper, tenant)
    payments = shopper.get("/portal/payments").get_data(as_text=True)
    for payment_id in sorted(set(re.findall(r"/portal/payments/(pay_[0-9a-z]+)", payments))):
        assert shopper.get(f"/portal/payments/{payment_id}").status_code == 200

    assert len(typed.pans) >= 10 and len(shopper.seen) > 100
    pans = [re.compile(r"[ -]?".join(re.sub(r"\D", "", pan))) for pan in typed.pans]
    cvcs = [re.compile(rf"(?<![0-9A-Za-z]){re.escape(cvc)}(?![0-9A-Za-z])") for cvc in typed.cvcs]
    for request, response in shopper.seen:
        searched = {
            "body": response.get_data(as_text=True),
            # Content-Length is a number of bytes that may happen to equal a security code.
            "headers": "\n".join(
                f"{name}: {value}" for name, value in response.headers.items() if name != "Content-Length"
            ),
        }
        for where, text in searched.items():
            for pattern in pans:
                assert not pattern.search(text), f"card number {pattern.pattern} in the {where} of {request}"
            for pattern in cvcs:
                assert not pattern.search(text), f"CVC {pattern.pattern} in the {where} of {request}"
