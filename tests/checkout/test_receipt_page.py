"""The receipt page a shopper lands on: the amount once, a notice (not a bullet) for an emailed receipt, the
form folded away once one is on its way, a way back to the shop, and a time with its zone."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tests.checkout.test_embed import SHOP, allow
from tests.checkout.test_receipt_email import ask_for_receipt, page_text, paid_session
from tests.fixtures import Factories


def test_the_amount_paid_shows_once(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    cs_id = paid_session(client, clean, make.tenants())
    page = page_text(client.get(f"/pay/{cs_id}/receipt"))
    assert page.count("€25.00") == 1
    assert '<p class="amount" id="amount">€25.00</p>' in page


def test_the_time_paid_names_its_zone_in_the_shoppers_language(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    cs_id = paid_session(client, clean, make.tenants(), locale="de")
    page = page_text(client.get(f"/pay/{cs_id}/receipt"))
    shown = re.search(r'<time datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)">([^<]+)</time>', page)
    assert shown is not None, page
    assert shown.group(2).endswith(" UTC")
    year, month, day = shown.group(1)[:10].split("-")
    german_months = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September")
    german_months += ("Oktober", "November", "Dezember")
    assert shown.group(2).startswith(f"{int(day)}. {german_months[int(month) - 1]} {year}")


def test_an_emailed_receipt_is_a_notice_and_the_form_folds_away(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    cs_id = paid_session(client, clean, make.tenants())
    before = page_text(client.get(f"/pay/{cs_id}/receipt"))
    assert '<h2 id="receipt-email-title">Email me a receipt</h2>' in before and "<details" not in before

    posted = ask_for_receipt(client, f"/pay/{cs_id}/receipt", "grace@example.com")
    after = page_text(client.get(posted.location))
    notice = re.search(r'<div class="receipt-emails" role="status">\s*<p class="notice">([^<]+)</p>', after)
    assert notice is not None and notice.group(1) == "Your receipt is on its way to grace@example.com."
    assert "<li>" not in after and "<ul" not in after
    assert "Email me a receipt" not in after
    # Still a plain form (no JavaScript needed) for another address, folded under a summary.
    assert re.search(r"<details[^>]*><summary[^>]*>Send it to another address</summary>", after)
    assert ask_for_receipt(client, f"/pay/{cs_id}/receipt", "ada@example.com").status_code == 303


def test_a_bad_address_on_the_folded_form_opens_it_again(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    cs_id = paid_session(client, clean, make.tenants())
    ask_for_receipt(client, f"/pay/{cs_id}/receipt", "grace@example.com")
    refused = ask_for_receipt(client, f"/pay/{cs_id}/receipt", "not an address")
    page = page_text(refused)
    assert refused.status_code == 200 and "<details" not in page and "Email me a receipt" in page


def test_the_receipt_leads_back_to_the_shop(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants(name="Bean There")
    cs_id = paid_session(client, clean, tenant, cancel_url="https://shop.example/cart")
    page = page_text(client.get(f"/pay/{cs_id}/receipt"))
    assert '<a class="button-link" href="https://shop.example/cart">Return to Bean There</a>' in page

    without = paid_session(client, clean, tenant)
    assert "Return to" not in page_text(client.get(f"/pay/{without}/receipt"))


def test_in_the_widget_the_receipt_has_no_link_away(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    allow(client, tenant)
    cs_id = paid_session(client, clean, tenant, cancel_url="https://shop.example/cart")
    page = page_text(client.get(f"/embed/{cs_id}/receipt?origin={SHOP}"))
    assert "Payment successful" in page and "Return to" not in page
