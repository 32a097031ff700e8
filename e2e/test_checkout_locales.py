"""A shopper pays in their language in real Chromium: the session's locale, else the browser's."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect

from core.jobs.runtime import Runtime
from tests.fixtures import Factories
from tests.payments_helpers import create_session

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

#: 25.00 EUR as CLDR writes it in German: decimal comma, a no-break space, the sign after the number.
GERMAN_AMOUNT = "25,00\u00a0€"


def open_german_checkout(page: Page, client: FlaskClient, make: Factories) -> None:
    cs = create_session(client, make.tenants(name="Kaffeerösterei"), description="Kaffeebohnen", locale="de")
    page.goto(f"/pay/{cs['id']}")


def fill_card_in_german(page: Page, number: str) -> None:
    page.get_by_label("Kartennummer").fill(number)
    page.get_by_label("Ablaufdatum").fill("12 / 34")
    page.get_by_label("Sicherheitscode").fill("123")
    page.get_by_label("Name des Karteninhabers").fill("Ada Lovelace")


def pay_in_german(page: Page) -> None:
    page.get_by_role("button", name=re.compile(r"^25,00\s€ bezahlen$")).click()


def test_a_german_session_shows_german_labels_and_amount_and_pays(
    page: Page, client: FlaskClient, make: Factories
) -> None:
    open_german_checkout(page, client, make)
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#amount")).to_have_text(GERMAN_AMOUNT)
    assert page.locator("#amount").text_content() == GERMAN_AMOUNT  # exactly, no-break space included
    for label in ("Kartennummer", "Ablaufdatum", "Sicherheitscode", "Name des Karteninhabers"):
        expect(page.get_by_label(label)).to_be_visible()
    expect(page.get_by_text("MM / JJ")).to_be_visible()
    expect(page.get_by_text("Card number")).to_have_count(0)
    fill_card_in_german(page, "4242 4242 4242 4242")
    pay_in_german(page)
    expect(page.get_by_role("heading", name="Zahlung erfolgreich")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Bezahlt an")).to_be_visible()


def test_a_declined_card_is_explained_in_german_and_the_3ds_page_speaks_german(
    page: Page, client: FlaskClient, make: Factories
) -> None:
    open_german_checkout(page, client, make)
    fill_card_in_german(page, "4000 0000 0000 0002")
    pay_in_german(page)
    expect(page.get_by_role("alert")).to_contain_text("Ihre Karte wurde abgelehnt.", timeout=15_000)
    fill_card_in_german(page, "4000 0027 6000 3184")
    pay_in_german(page)
    expect(page.get_by_role("heading", name="Bestätigen Sie, dass Sie es sind")).to_be_visible(timeout=15_000)
    page.get_by_role("button", name="Abschließen").click()
    expect(page.get_by_role("heading", name="Zahlung erfolgreich")).to_be_visible(timeout=15_000)


def test_a_form_error_is_announced_in_german(page: Page, client: FlaskClient, make: Factories) -> None:
    open_german_checkout(page, client, make)
    fill_card_in_german(page, "4242 4242 4242 4241")
    pay_in_german(page)
    expect(page.get_by_text("Die Kartennummer ist ungültig. Bitte prüfen Sie die Ziffern.")).to_be_visible()
    expect(page.get_by_label("Kartennummer")).to_have_attribute("aria-invalid", "true")


def test_without_a_session_locale_the_browser_language_chooses(
    browser: Browser, live_server: str, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    cs = create_session(client, make.tenants())
    context = browser.new_context(base_url=live_server, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(f"/pay/{cs['id']}")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("#amount")).to_have_text("25,00\u00a0€")
        expect(page.get_by_label("Numéro de carte")).to_be_visible()
        expect(page.get_by_label("Date d'expiration")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile(r"^Payer 25,00\s€$"))).to_be_visible()
    finally:
        context.close()
