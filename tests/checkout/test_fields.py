"""checkout/fields.py renders each checkout field exactly as the shared macro (templates/_macros/field.html)
does: label, hint, input with its autocomplete and validation attributes, aria, focus, error; in every
state, in another language too."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from checkout.forms import BankForm, CardForm, CheckoutForm, WalletForm

MACRO = (
    '{% from "_macros/field.html" import field %}'
    "{% if marks %}{% call field(f, width, focus=focus) %}{{ marks }}{% endcall %}"
    "{% else %}{{ field(f, width, focus=focus) }}{% endif %}"
)
MARKS = Markup('<span class="card-brands" id="card-brands"><img alt="Visa"></span>')


def _both(
    app: Flask, f: Any, width: str = "", focus: str | None = None, marks: Markup | None = None
) -> tuple[str, str]:
    by_macro = app.jinja_env.from_string(MACRO).render(f=f, width=width, focus=focus, marks=marks)
    by_python = app.jinja_env.from_string(
        "{{ checkout_field(f, width, focus=focus, body=marks or '') }}"
    ).render(f=f, width=width, focus=focus, marks=marks)
    return by_macro, by_python


def _forms(app: Flask, posted: dict[str, str] | None) -> list[CheckoutForm]:
    made: list[CheckoutForm] = []
    for form_class in (CardForm, WalletForm, BankForm):
        with app.test_request_context("/pay/cs_x", method="POST" if posted else "GET", data=posted or {}):
            form = form_class(formdata=MultiDict(posted) if posted else None, session_id="cs_test_x")
            if posted:
                form.validate()
            made.append(form)
    return made


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize(
    "posted",
    [
        None,  # a fresh page
        {
            "number": "4242 4242 4242 4242",
            "expiry": "13/30",
            "cvc": "12",
            "name": '"O\'Brien" <b>',
            "email": "x",
        },
        {"number": "", "expiry": "", "cvc": "", "name": "", "email": "a@example.com", "postal_code": "10115"},
    ],
)
def test_every_checkout_field_renders_as_the_macro_renders_it(
    app: Flask, locale: str, posted: dict[str, str] | None
) -> None:
    compared = 0
    with app.test_request_context("/"), force_locale(locale):
        for form in _forms(app, posted):
            focus = next(
                (f.id for f in form if f.errors and f.type not in ("CSRFTokenField", "HiddenField")), None
            )
            for f in form:
                if f.type in ("CSRFTokenField", "HiddenField", "SubmitField"):
                    continue
                f.flags.required = f.flags.required or (f.name == "email" and posted is None)
                for width, marks in (("", None), ("half", None), ("", MARKS)):
                    by_macro, by_python = _both(app, f, width, focus, marks)
                    assert by_python == by_macro, f"{type(form).__name__}.{f.name}"
                    compared += 1
    assert compared >= 3 * 8  # every card field, and the email of each method's form
