"""The card form as the server renders it: phone keyboards and autofill, the brand table the page's script
reads, the marks, and what a shopper keeps after a decline (the browser tests, e2e/test_card_form.py, type
into it)."""

from __future__ import annotations

import html
import json
import re

from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from core.vault.cards import IIN_RANGES
from tests.fixtures import Factories
from tests.payments_helpers import confirm, create_session, work_until_settled


def _input(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert match, f"no {name} field"
    return match.group(0)


def test_the_fields_ask_for_the_right_keyboard_and_autofill(client: FlaskClient, make: Factories) -> None:
    cs = create_session(client, make.tenants())
    page = client.get(f"/pay/{cs['id']}").get_data(as_text=True)
    expected = {
        "number": ['autocomplete="cc-number"', 'inputmode="numeric"', 'spellcheck="false"'],
        "expiry": ['autocomplete="cc-exp"', 'inputmode="numeric"', 'maxlength="9"'],
        "cvc": ['autocomplete="cc-csc"', 'inputmode="numeric"', 'maxlength="4"'],
        "name": ['autocomplete="cc-name"'],
        "email": ['autocomplete="email"', 'inputmode="email"'],
    }
    for name, attributes in expected.items():
        field = _input(page, name)
        for attribute in attributes:
            assert attribute in field, (name, attribute, field)
    # Without JavaScript the security code's hint says 3 digits; the script switches it for Amex.
    assert 'data-hint-amex="4 digits on the front"' in _input(page, "cvc")
    assert "3 digits on the back" in page


def test_the_page_carries_the_vaults_brand_table_and_every_brands_mark(
    client: FlaskClient, make: Factories
) -> None:
    cs = create_session(client, make.tenants())
    page = client.get(f"/pay/{cs['id']}").get_data(as_text=True)
    ranges = re.search(r'data-card-ranges="([^"]+)"', page)
    assert ranges is not None
    assert json.loads(html.unescape(ranges.group(1))) == [[str(b), n, lo, hi] for b, n, lo, hi in IIN_RANGES]
    marks = re.findall(r'<img src="(/static/checkout/brands/(\w+)\.svg)" alt="([^"]+)"[^>]*>', page)
    assert {brand for _, brand, _ in marks} == {
        "visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "maestro"
    }  # fmt: skip
    for src, _, _ in marks:
        with client.get(src) as served:
            assert served.status_code == 200 and served.mimetype == "image/svg+xml"
            assert b"<script" not in served.data and b"href" not in served.data  # an inert picture
    # Without JavaScript four marks show; the others appear only once the script detects them.
    shown = re.findall(r'<img src="/static/checkout/brands/(\w+)\.svg" alt="[^"]+" width="32" height="20" '
                       r'data-brand="\w+">', page)  # fmt: skip
    assert shown == ["visa", "mastercard", "amex", "maestro"]


def test_after_a_decline_the_email_is_kept_and_the_card_is_not(
    client: FlaskClient, clean: Runtime, make: Factories
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    failed = confirm(
        clean, tenant, cs["id"], card_number="4000 0000 0000 0002", customer_email="Ada@Example.com"
    )
    assert str(work_until_settled(clean, tenant, failed).status) == "failed"
    page = client.get(f"/pay/{cs['id']}?failed={failed}&method=card").get_data(as_text=True)
    assert "Your card was declined." in page
    assert 'value="ada@example.com"' in _input(page, "email")
    for card_field in ("number", "cvc"):
        assert not re.search(r'value="[^"]', _input(page, card_field)), card_field
    assert "4000" not in page.replace("1234 1234 1234 1234", "")
    assert "data-failed" in page  # the page's script puts the cardholder name back


def test_a_month_past_twelve_is_a_form_error(client: FlaskClient, make: Factories) -> None:
    cs = create_session(client, make.tenants())
    form = client.get(f"/pay/{cs['id']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token is not None
    fields = {"number": "", "expiry": "13 / 30", "cvc": "", "name": ""}
    page = client.post(
        f"/pay/{cs['id']}", data={"csrf_token": token.group(1), "method": "card", **fields}
    ).get_data(as_text=True)
    assert "Expiry month must be a number from 1 to 12." in page
