"""The locality editor's forms: one country's rule, putting the draft in force, the preview."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, RadioField, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

NOT_SET = ("", "Not set here")
AMOUNT_HINT = "Like 100.00; empty: no limit."


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (a fieldset of them, each with its label)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RuleForm(FlaskForm):
    country = StringField(
        "Country",
        validators=[
            DataRequired(message='Enter a country code like "DE", or "*" for every country.'),
            Regexp(r"^\s*([A-Za-z]{2}|\*)\s*$", message='A two-letter country code like "DE", or "*".'),
        ],
        description='Two letters (ISO 3166), like DE; "*" for every country.',
        render_kw={"autocomplete": "off", "size": 4, "maxlength": 2},
    )
    methods = CheckboxesField(
        "Methods offered",
        choices=[
            SelectChoice("card", "Card"),
            SelectChoice("wallet", "Wallet"),
            SelectChoice("bank", "Online banking"),
        ],
        validators=[Optional()],
        description="None ticked: not set here.",
    )
    currency = StringField(
        "Currency of the limits",
        validators=[DataRequired(message="Enter the currency the limits are in, like EUR."), Length(max=3)],
        render_kw={"autocomplete": "off", "size": 4, "maxlength": 3},
    )
    min_amount = StringField("Minimum amount", validators=[Length(max=20)], description=AMOUNT_HINT)
    max_amount = StringField("Maximum amount", validators=[Length(max=20)], description=AMOUNT_HINT)
    card_max = StringField("Card offered up to", validators=[Length(max=20)], description=AMOUNT_HINT)
    wallet_max = StringField("Wallet offered up to", validators=[Length(max=20)], description=AMOUNT_HINT)
    bank_max = StringField(
        "Online banking offered up to", validators=[Length(max=20)], description=AMOUNT_HINT
    )
    required_fields = SelectField(
        "Required fields",
        choices=[
            SelectChoice(*NOT_SET),
            SelectChoice("none", "None"),
            SelectChoice("postal_code", "Postal code"),
            SelectChoice("email", "Email"),
            SelectChoice("postal_code,email", "Postal code and email"),
        ],
        validators=[Optional()],
    )
    surcharge = StringField(
        "Card surcharge (%)",
        validators=[Length(max=10)],
        description="Up to 3%; not allowed in the EU/EEA and the UK. Empty: not set here.",
    )
    three_ds = SelectField(
        "3-D Secure",
        choices=[
            SelectChoice(*NOT_SET),
            SelectChoice("automatic", "When the issuer asks"),
            SelectChoice("required", "Every card payment"),
        ],
        validators=[Optional()],
    )
    default_language = SelectField(
        "Default language",
        choices=[
            SelectChoice(*NOT_SET),
            SelectChoice("en", "English"),
            SelectChoice("de", "German"),
            SelectChoice("fr", "French"),
            SelectChoice("es", "Spanish"),
            SelectChoice("nl", "Dutch"),
        ],
        validators=[Optional()],
    )
    submit = SubmitField("Save to draft")


class PublishForm(FlaskForm):
    when = RadioField(
        "When",
        choices=[SelectChoice("now", "Now"), SelectChoice("later", "At a later time")],
        default="now",
        validators=[DataRequired(message="Choose when the draft takes effect.")],
    )
    effective_at = DateTimeLocalField(
        "Takes effect at (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    note = StringField("Note for the history", validators=[Length(max=200)])
    submit = SubmitField("Publish the draft")


class PreviewForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    # Own ids: the rule form on the same page has a country and a currency too.
    country = StringField(
        "Shopper's country",
        id="preview-country",
        validators=[Optional(), Length(max=2)],
        render_kw={"size": 4},
    )
    currency = StringField(
        "Currency", id="preview-currency", validators=[Optional(), Length(max=3)], render_kw={"size": 4}
    )
    amount = StringField(
        "Amount",
        id="preview-amount",
        validators=[Optional(), Length(max=20)],
        render_kw={"inputmode": "decimal"},
    )
    submit = SubmitField("Preview")
