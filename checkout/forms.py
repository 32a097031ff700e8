"""Checkout forms. Labels are the contract's (ARCHITECTURE.md); every string is translated."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import TextInput

from checkout.csrf import CheckoutCSRF

#: The shopper's email on the payment forms: the phone's email keyboard, no autocorrection.
EMAIL_ATTRIBUTES = {"autocomplete": "email", "inputmode": "email", "spellcheck": "false"}
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")


class CardDataInput(TextInput):
    """A text input that never renders a value: a card number or security code the shopper typed is not
    sent back after a form error (through proxies, logs and the browser cache); the shopper types it again.
    """

    def __call__(self, field: Any, **kwargs: Any) -> Any:
        kwargs["value"] = ""
        return super().__call__(field, **kwargs)


class CheckoutForm(FlaskForm):
    class Meta:
        csrf = True
        csrf_class = CheckoutCSRF

    def __init__(self, *args: Any, session_id: str, **kwargs: Any) -> None:
        super().__init__(*args, meta={"csrf_context": session_id}, **kwargs)


class CardForm(CheckoutForm):
    method = HiddenField(default="card")
    number = StringField(
        _l("Card number"),
        validators=[DataRequired(message=_l("Enter the card number.")), Length(max=30)],
        widget=CardDataInput(),
        render_kw={
            "autocomplete": "cc-number",
            "inputmode": "numeric",
            "placeholder": "1234 1234 1234 1234",
            "spellcheck": "false",
            "autocorrect": "off",
        },
    )
    expiry = StringField(
        _l("Expiry date"),
        validators=[DataRequired(message=_l("Enter the expiry date as MM / YY.")), Length(max=9)],
        render_kw={
            "autocomplete": "cc-exp",
            "inputmode": "numeric",
            "placeholder": _l("MM / YY"),
            "maxlength": "9",
        },
        description=_l("MM / YY"),
    )
    cvc = StringField(
        _l("Security code"),
        validators=[
            DataRequired(message=_l("Enter the security code.")),
            Regexp(r"^\s*\d{3,4}\s*$", message=_l("The security code is 3 or 4 digits.")),
        ],
        widget=CardDataInput(),
        render_kw={
            "autocomplete": "cc-csc",
            "inputmode": "numeric",
            "placeholder": _l("CVC"),
            "maxlength": "4",
            # static/checkout/card.js: the hint and maxlength follow the brand (the vault checks it too).
            "data-hint-amex": _l("4 digits on the front"),
        },
        description=_l("3 digits on the back"),
    )
    name = StringField(
        _l("Cardholder name"),
        validators=[DataRequired(message=_l("Enter the name on the card.")), Length(max=100)],
        render_kw={"autocomplete": "cc-name", "spellcheck": "false"},
    )
    postal_code = StringField(
        _l("Postal code"), validators=[Optional(), Length(max=12)], render_kw={"autocomplete": "postal-code"}
    )
    email = StringField(_l("Email"), validators=[Optional(), Length(max=320)], render_kw=EMAIL_ATTRIBUTES)
    submit = SubmitField(_l("Pay"))

    def validate_expiry(self, field: Any) -> None:
        match = _EXPIRY.match(field.data or "")
        if not match:
            raise ValidationError(_l("Enter the expiry date as MM / YY."))
        if not 1 <= int(match.group(1)) <= 12:
            raise ValidationError(_l("Expiry month must be a number from 1 to 12."))

    def expiry_parts(self) -> tuple[int, int]:
        match = _EXPIRY.match(self.expiry.data or "")
        assert match is not None
        return int(match.group(1)), int(match.group(2))


class WalletForm(CheckoutForm):
    method = HiddenField(default="wallet")
    email = StringField(_l("Email"), validators=[Optional(), Length(max=320)], render_kw=EMAIL_ATTRIBUTES)
    submit = SubmitField(_l("Pay"))


class BankForm(CheckoutForm):
    method = HiddenField(default="bank")
    email = StringField(_l("Email"), validators=[Optional(), Length(max=320)], render_kw=EMAIL_ATTRIBUTES)
    submit = SubmitField(_l("Pay"))


class ReceiptEmailForm(CheckoutForm):
    """The receipt page's "Email me a receipt". The address is checked by core (core.receipts.service)."""

    email = EmailField(
        _l("Email"),
        validators=[DataRequired(message=_l("Enter your email address.")), Length(max=320)],
        render_kw={"autocomplete": "email"},
    )


class AnswerForm(CheckoutForm):
    """The sandbox 3DS and approval pages: one of two buttons (and a bank for online banking)."""

    result = HiddenField()
    bank = StringField(_l("Bank"), validators=[Optional(), Length(max=64)])
