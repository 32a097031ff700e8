"""The shared template pieces: the money, date and status filters (core/web/templating.py), the one field
macro (templates/_macros/field.html) and the one <head> (templates/_partials/head.html)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from checkout.forms import CardForm
from core.payments.models import PaymentStatus, RefundStatus, SessionStatus
from core.web.templating import STATUS_LABELS
from tests.fixtures import Factories
from tests.payments_helpers import create_session
from tests.portal.test_sign_in import sign_in

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
GERMAN = {"Accept-Language": "de"}


def render(
    app: Flask, source: str, path: str = "/pay/cs_x", headers: dict[str, str] | None = None, **context: object
) -> str:
    with app.test_request_context(path, headers=headers or {}):
        return render_template_string(source, **context)


# --- filters --------------------------------------------------------------------------------------------


def test_money_is_formatted_in_the_pages_language(app: Flask) -> None:
    assert render(app, "{{ 2500|money('EUR') }}") == "€25.00"
    assert render(app, "{{ 2500|money('EUR') }}", headers=GERMAN) == "25,00\u00a0€"
    assert render(app, "{{ 1050|money('JPY') }}") == "¥1,050"
    # The portal is English throughout: a German browser still reads English amounts there.
    assert render(app, "{{ 2500|money('EUR') }}", path="/portal/payments", headers=GERMAN) == "€25.00"


def test_dates_carry_their_zone_in_the_pages_language(app: Flask) -> None:
    when = datetime(2026, 12, 1, 6, 59, 3)  # naive, as SQLite hands it back: UTC
    source = "{{ when|datetime }} | {{ when|date }} | {{ when|datetime('yyyy-MM-dd HH:mm') }}"
    assert render(app, source, headers=GERMAN, when=when) == (
        "1. Dezember 2026, 06:59:03 UTC | 01.12.2026 | 2026-12-01 06:59"
    )
    assert (
        render(app, "{{ when|datetime }}", when=when.replace(tzinfo=UTC))
        == "December 1, 2026, 6:59:03\u202fAM UTC"
    )
    # Late in the evening UTC is the next day in Berlin.
    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert render(app, "{{ when|date('yyyy-MM-dd', zone='Europe/Berlin') }}", when=late) == "2026-12-02"


def test_every_payment_refund_and_session_status_has_a_label() -> None:
    statuses = {*PaymentStatus, *RefundStatus, *SessionStatus}
    assert {str(s) for s in statuses} == set(STATUS_LABELS)


def test_status_labels_are_words_translated_on_the_checkout_and_english_in_the_portal(app: Flask) -> None:
    assert render(app, "{{ 'partially_refunded'|status_label }}") == "partially refunded"
    assert render(app, "{{ 'partially_refunded'|status_label }}", headers=GERMAN) == "teilweise erstattet"
    assert render(app, "{{ 'expired'|status_label }}", headers={"Accept-Language": "fr"}) == "expiré"
    assert (
        render(
            app,
            "{{ s|status_label }}",
            path="/portal/payments",
            headers=GERMAN,
            s=PaymentStatus.REQUIRES_ACTION,
        )
        == "requires action"
    )
    assert render(app, "{{ 'something_new'|status_label }}") == "something new"


# --- the field macro ------------------------------------------------------------------------------------

FIELD = '{% from "_macros/field.html" import field %}'


def card_form(app: Flask, **data: str) -> str:
    source = (
        FIELD
        + '{% call field(form.number, focus=focus) %}<span class="marks">VISA</span>{% endcall %}'
        + '{{ field(form.cvc, "half", focus=focus) }}{{ field(form.name, focus=focus) }}'
    )
    with app.test_request_context("/pay/cs_x", method="POST", data=data):
        form = CardForm(formdata=MultiDict(data), session_id="cs_x")
        form.validate()
        return render_template_string(source, form=form, focus="number")


def test_the_field_macro_renders_the_checkout_fields_with_their_errors_hints_and_marks(app: Flask) -> None:
    page = card_form(app, number="4242424242424242", cvc="12", name="")
    number = re.search(r"<input[^>]*id=\"number\"[^>]*>", page)
    assert number is not None
    tag = number.group(0)
    assert 'value=""' in tag and "4242" not in page  # the card number is never sent back
    assert 'autocomplete="cc-number"' in tag and 'inputmode="numeric"' in tag and "autofocus" in tag
    assert '<div class="input-with-marks"><input' in page and '<span class="marks">VISA</span></div>' in page
    cvc = re.search(r"<input[^>]*id=\"cvc\"[^>]*>", page)
    assert cvc is not None
    assert 'value=""' in cvc.group(0) and 'aria-describedby="cvc-error cvc-hint"' in cvc.group(0)
    assert 'aria-invalid="true"' in cvc.group(0) and "autofocus" not in cvc.group(0)
    assert '<div class="field has-error half">' in page
    assert '<span class="hint" id="cvc-hint">3 digits on the back</span>' in page
    assert '<p class="error" id="cvc-error">The security code is 3 or 4 digits.</p>' in page


def test_the_portal_sign_in_uses_the_same_macro(client: FlaskClient) -> None:
    page = client.get("/portal/login").get_data(as_text=True)
    email = re.search(r"<input[^>]*id=\"email\"[^>]*>", page)
    assert email is not None
    assert 'autocomplete="username"' in email.group(0) and "autofocus" in email.group(0)
    assert 'aria-invalid="false"' in email.group(0) and "aria-describedby" not in email.group(0)
    assert '<div class="field">' in page


def test_there_is_one_field_macro_and_one_head() -> None:
    templates = {p.relative_to(TEMPLATES).as_posix(): p.read_text() for p in TEMPLATES.rglob("*.html")}
    pages = {name: text for name, text in templates.items() if not name.startswith("mail/")}
    assert [n for n, t in pages.items() if "{% macro field" in t] == ["_macros/field.html"]
    assert [n for n, t in pages.items() if "<meta charset" in t] == ["_partials/head.html"]
    assert [n for n, t in sorted(pages.items()) if '{% include "_partials/head.html" %}' in t] == sorted(
        ["base/layout.html", "checkout/layout.html"]
    )


@pytest.mark.parametrize("surface", ["checkout", "portal"])
def test_every_page_head_has_its_charset_viewport_stylesheet_and_nonced_scripts(
    client: FlaskClient, make: Factories, surface: str
) -> None:
    if surface == "checkout":
        response = client.get(f"/pay/{create_session(client, make.tenants())['id']}")
        stylesheet = "/static/css/checkout.css"
    else:
        response = client.get("/portal/login")
        stylesheet = "/static/css/kassa.css"
    page = response.get_data(as_text=True)
    head = page[page.index("<head>") : page.index("</head>")]
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert nonce is not None
    assert head.count('<meta charset="utf-8">') == 1 and head.index('<meta charset="utf-8">') < 20
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in head
    assert f'<link rel="stylesheet" href="{stylesheet}">' in head
    scripts = re.findall(r"<script[^>]*>", head)
    assert scripts and all(f'nonce="{nonce.group(1)}"' in s for s in scripts)
    assert "vendor/htmx.min.js" in scripts[0]


def test_the_portal_stays_english_for_a_german_browser(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    paid = make.payments(tenant=tenant, amount=1999).id
    sign_in(client, tenant)
    listing = client.get("/portal/payments", headers=GERMAN).get_data(as_text=True)
    assert (
        "€19.99" in listing and ">succeeded</span>" in listing and ">partially refunded</option>" in listing
    )
    detail = client.get(f"/portal/payments/{paid}", headers=GERMAN).get_data(as_text=True)
    assert "<h1>€19.99 " in detail and "erfolgreich" not in detail
