"""The emailed receipt in real Chromium: pay, see where the receipt goes, and receive it over SMTP."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from e2e.test_checkout import fill_card, pay
from tests.fixtures import Factories
from tests.payments_helpers import create_session
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]


def test_a_paid_checkout_emails_its_receipt_and_the_page_sends_another(
    page: Page, client: FlaskClient, make: Factories, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants(name="Bean There")
    cs = create_session(client, tenant, description="Coffee beans", customer_email="ada@example.com")
    page.goto(f"/pay/{cs['id']}")
    fill_card(page, "4242 4242 4242 4242")
    pay(page)
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible(timeout=15_000)
    # Queued or already sent, depending on how quick the worker was: either way it names the address.
    expect(page.get_by_text(re.compile(r"receipt .*ada@example\.com"))).to_be_visible()

    [delivery] = mail_to_smtp.inbox.wait_for(1, timeout=15)
    assert delivery.recipients == ["ada@example.com"]
    assert delivery.message["Subject"] == "[Test mode] Your receipt from Bean There"
    plain = delivery.text("plain")
    assert "€25.00" in plain and "Visa ···· 4242" in plain and "4242424242424242" not in plain

    # One is on its way: the form is folded away under a summary, and opens for another address.
    expect(page.get_by_role("heading", name="Email me a receipt")).to_have_count(0)
    page.get_by_text("Send it to another address").click()
    page.get_by_label("Email", exact=True).fill("grace@example.com")
    page.get_by_role("button", name="Send receipt").click()
    expect(page.get_by_text("Your receipt is on its way to grace@example.com.")).to_be_visible()
    deliveries = mail_to_smtp.inbox.wait_for(2, timeout=15)
    assert [d.recipients for d in deliveries] == [["ada@example.com"], ["grace@example.com"]]
