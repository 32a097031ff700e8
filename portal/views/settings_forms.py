"""The forms of the settings screens (portal/views/settings.py). They check shape only (lengths, a
choice from the list); the rules are the services' (tenants/business_profile.py, checkout_settings.py,
core/risk), whose InvalidInput names the field a message belongs to."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from core.risk.models import BlockKind
from portal.views.team_forms import CheckboxesField, options


class BusinessProfileForm(FlaskForm):
    legal_name = StringField(
        "Legal business name",
        validators=[Optional(), Length(max=200, message="At most 200 characters.")],
        description="As registered, e.g. Acme Coffee GmbH.",
    )
    address = TextAreaField(
        "Business address",
        validators=[Optional(), Length(max=500, message="At most 500 characters.")],
        description="Street, postal code and city, country: one per line.",
        render_kw={"rows": 4, "autocomplete": "street-address"},
    )
    support_email = StringField(
        "Support email",
        validators=[Optional(), Length(max=320, message="At most 320 characters.")],
        render_kw={"type": "email", "autocomplete": "email", "inputmode": "email"},
    )
    support_url = StringField(
        "Support website",
        validators=[Optional(), Length(max=500, message="At most 500 characters.")],
        description="An https address, e.g. https://shop.example/help.",
        render_kw={"type": "url", "inputmode": "url"},
    )
    submit = SubmitField("Save business profile")


class BrandingForm(FlaskForm):
    display_name = StringField(
        "Display name",
        validators=[
            DataRequired(message="Enter the name shoppers see."),
            Length(max=100, message="At most 100 characters."),
        ],
        description="Shown at the top of the payment page and on receipts.",
    )
    brand_color = StringField(
        "Brand colour",
        validators=[Optional(), Length(max=7, message="A hex colour like #1a73e8.")],
        description="A hex colour like #1a73e8, for the Pay button. Empty: Kassa's blue.",
        render_kw={"placeholder": "#0b57d0", "spellcheck": "false", "autocapitalize": "off"},
    )
    statement_descriptor = StringField(
        "Statement descriptor",
        validators=[Optional(), Length(max=22, message="At most 22 characters.")],
        description="What card statements show: 5-22 letters, digits, spaces and . , - * & '. Empty: "
        "derived from the display name.",
        render_kw={"spellcheck": "false"},
    )
    logo = FileField(
        "Logo",
        description="PNG, JPEG or WebP, at most 100 KB and 4096 pixels a side. No SVG.",
        render_kw={"accept": "image/png,image/jpeg,image/webp"},
    )
    remove_logo = BooleanField("Remove the logo")
    preview = SubmitField("Preview")
    submit = SubmitField("Save branding")


METHOD_LABELS = {"card": "Card", "wallet": "Wallet", "bank": "Online banking"}


class CheckoutForm(FlaskForm):
    allowed_origins = TextAreaField(
        "Allowed widget origins",
        validators=[Length(max=13_000, message="At most 50 origins.")],
        description="The sites that may embed the checkout widget, one per line, e.g. https://shop.example "
        "(http only for localhost).",
        render_kw={"rows": 4, "spellcheck": "false", "autocapitalize": "off"},
    )
    payment_methods = CheckboxesField(
        "Payment methods", choices=options(list(METHOD_LABELS.items())), validate_choice=True
    )
    receipt_emails = BooleanField("Email a receipt to the shopper after each payment")
    submit = SubmitField("Save checkout settings")


#: The risk thresholds the form shows, with their labels and hints (the names are core/risk's).
THRESHOLDS: dict[str, tuple[str, str]] = {
    "max_amount": ("Block payments above", "Minor units (cents): 1000000 is 10,000.00 EUR. 0: off."),
    "review_amount": ("Flag for review from", "Minor units (cents). 0: off."),
    "max_attempts_per_card_hour": ("Attempts per card per hour", "More are blocked. 0: off."),
    "max_attempts_per_email_hour": ("Attempts per email per hour", "More are blocked. 0: off."),
    "max_attempts_per_ip_hour": ("Attempts per IP address per hour", "More are blocked. 0: off."),
    "max_declines_per_session": (
        "Declines per checkout session",
        "Then further attempts are blocked. 0: off.",
    ),
    "max_declines_per_ip_hour": ("Declines per IP address per hour", "Then blocked. 0: off."),
    "max_declines_per_card_hour": ("Declines per card per hour", "Then blocked. 0: off."),
}


def _threshold(name: str) -> StringField:
    label, hint = THRESHOLDS[name]
    return StringField(
        label,
        validators=[DataRequired(message="Enter a whole number (0 switches the rule off)."), Length(max=20)],
        description=hint,
        render_kw={"inputmode": "numeric"},
    )


class RiskSettingsForm(FlaskForm):
    max_amount = _threshold("max_amount")
    review_amount = _threshold("review_amount")
    max_attempts_per_card_hour = _threshold("max_attempts_per_card_hour")
    max_attempts_per_email_hour = _threshold("max_attempts_per_email_hour")
    max_attempts_per_ip_hour = _threshold("max_attempts_per_ip_hour")
    max_declines_per_session = _threshold("max_declines_per_session")
    max_declines_per_ip_hour = _threshold("max_declines_per_ip_hour")
    max_declines_per_card_hour = _threshold("max_declines_per_card_hour")
    submit = SubmitField("Save thresholds")


BLOCK_KIND_LABELS = {
    BlockKind.CARD: "Card (fingerprint)",
    BlockKind.EMAIL: "Email address",
    BlockKind.IP: "IP address",
    BlockKind.BIN: "BIN (first 6-8 digits)",
    BlockKind.COUNTRY: "Card country",
}


class BlockForm(FlaskForm):
    kind = SelectField(
        "Block by",
        choices=options([(str(k), v) for k, v in BLOCK_KIND_LABELS.items()]),
        validate_choice=True,
    )
    value = StringField(
        "Value",
        validators=[DataRequired(message="Enter what to block."), Length(max=320, message="Too long.")],
        description="A card fingerprint from a payment, an email, an IP address, a BIN or a country code "
        "(DE).",
        render_kw={"spellcheck": "false", "autocapitalize": "off"},
    )
    note = StringField(
        "Reason",
        validators=[
            DataRequired(message="Say why, so your team knows later."),
            Length(max=500, message="At most 500 characters."),
        ],
        description='Shown beside the entry, e.g. "Chargeback fraud, case 1142".',
    )
    submit = SubmitField("Add to block list")


class RemoveBlockForm(FlaskForm):
    submit = SubmitField("Remove")


class TimeZoneForm(FlaskForm):
    time_zone = SelectField("Time zone", validate_choice=False)
    submit = SubmitField("Save time zone")
