from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    EmailField,
    Field,
    FileField,
    HiddenField,
    MultipleFileField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from core.geo import is_email


class KassaEmail:
    """Kassa's one email rule (core.geo.is_email), the rule `kassa users create` applies: an address the CLI
    accepted (`owner@shop.test`) can always sign in. WTForms' `Email()` refuses special-use domains."""

    def __init__(self, message: str = "Enter a valid email address, like name@example.com.") -> None:
        self.message = message

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not is_email((field.data or "").strip().lower()):
            raise ValidationError(self.message)


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired(message="Enter your email."), KassaEmail(), Length(max=320)]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(message="Enter your password."), Length(max=1024)]
    )
    submit = SubmitField("Sign in")


class CodeForm(FlaskForm):
    code = StringField(
        "Authentication code",
        validators=[
            DataRequired(message="Enter the 6-digit code from your authenticator app."),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="The code is 6 digits."),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField("Verify")


AMOUNT_HINT = "Enter an amount like 10.50, or leave it empty."


def _amount_or_all(label: str, *, description: str) -> StringField:
    """An amount field a member may leave empty: the view then takes all there is (to refund, to pay out)."""
    return StringField(
        label,
        validators=[Length(max=24), Regexp(r"^\s*([0-9]+([.,][0-9]+)?)?\s*$", message=AMOUNT_HINT)],
        description=description,
        render_kw={"inputmode": "decimal"},
    )


class RefundForm(FlaskForm):
    amount = _amount_or_all("Amount to refund", description="Leave empty to refund all that is left.")
    #: Set by the confirmation step's button: without it the form only asks to confirm the amount.
    confirmed = HiddenField()
    #: Read only when the refund is held for a second person's approval (tenants/approvals.py).
    approval_reason = StringField("Reason, if it needs approval", validators=[Length(max=500)])
    submit = SubmitField("Refund")


class ReceiptForm(FlaskForm):
    email = EmailField(
        "Send the receipt to",
        validators=[DataRequired(message="Enter the customer's email."), KassaEmail(), Length(max=320)],
    )
    submit = SubmitField("Resend receipt")


class ModeForm(FlaskForm):
    mode = HiddenField(validators=[AnyOf(("test", "live"), message="Choose test or live mode.")])
    next = HiddenField()


_AMOUNT = Regexp(r"^\s*[0-9]+([.,][0-9]+)?\s*$", message="Enter an amount like 10.50.")


class PaymentFilterForm(FlaskForm):
    """The payments list's filters: a GET form, so no CSRF token (it changes nothing) and the URL holds
    the whole filter state (shareable; the back button returns to it)."""

    class Meta:
        csrf = False

    q = StringField(
        "Search",
        validators=[Optional(), Length(max=200)],
        description="Payment or session id, reference, customer email or card last 4",
    )
    status = SelectField("Status", validators=[Optional()], validate_choice=True)
    method = SelectField("Method", validators=[Optional()], validate_choice=True)
    risk = SelectField("Risk", validators=[Optional()], validate_choice=True)
    currency = StringField(
        "Currency",
        validators=[Optional(), Regexp(r"^\s*[A-Za-z]{3}\s*$", message="A 3-letter code, like EUR.")],
        render_kw={"size": 4, "autocapitalize": "characters"},
    )
    country = StringField(
        "Country",
        validators=[Optional(), Regexp(r"^\s*[A-Za-z]{2}\s*$", message="A 2-letter code, like DE.")],
        render_kw={"size": 3, "autocapitalize": "characters"},
    )
    amount_min = StringField(
        "Amount from", validators=[Optional(), _AMOUNT], render_kw={"inputmode": "decimal"}
    )
    amount_max = StringField(
        "Amount to", validators=[Optional(), _AMOUNT], render_kw={"inputmode": "decimal"}
    )
    created_from = DateField("Created from", validators=[Optional()])
    created_to = DateField("Created to", validators=[Optional()])


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")


class PayoutForm(FlaskForm):
    currency = StringField(
        "Currency", validators=[Regexp(r"^\s*[A-Za-z]{3}\s*$", message="Enter a currency like EUR.")]
    )
    amount = _amount_or_all("Amount", description="Leave empty to pay out all that is available.")
    submit = SubmitField("Pay out now")


class ScheduleForm(FlaskForm):
    currency = StringField(
        "Currency", validators=[Regexp(r"^\s*[A-Za-z]{3}\s*$", message="Enter a currency like EUR.")]
    )
    interval = SelectField(
        "Schedule",
        choices=[SelectChoice(v, v.title()) for v in ("daily", "weekly", "monthly", "manual")],
    )
    weekly_anchor = SelectField(
        "Weekday",
        choices=[
            SelectChoice(str(i), d)
            for i, d in enumerate(
                ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
            )
        ],
    )
    monthly_anchor = StringField(
        "Day of the month",
        default="1",
        validators=[Regexp(r"^\s*[0-9]{1,2}\s*$", message="Enter a day from 1 to 31.")],
    )
    minimum = StringField(
        "Minimum payout",
        validators=[
            Length(max=24),
            Regexp(r"^\s*([0-9]+([.,][0-9]+)?)?\s*$", message="Enter an amount like 10.50."),
        ],
        render_kw={"inputmode": "decimal"},
    )
    submit = SubmitField("Save schedule")


class BankAccountForm(FlaskForm):
    currency = StringField(
        "Currency", validators=[Regexp(r"^\s*[A-Za-z]{3}\s*$", message="Enter a currency like EUR.")]
    )
    country = StringField(
        "Bank country", validators=[Regexp(r"^\s*[A-Za-z]{2}\s*$", message="Enter a country code like DE.")]
    )
    account_holder = StringField("Account holder", validators=[Length(min=1, max=140)])
    iban = StringField("IBAN", validators=[Length(max=42)], render_kw={"autocomplete": "off"})
    account_number = StringField(
        "Account number (US)", validators=[Length(max=17)], render_kw={"autocomplete": "off"}
    )
    routing_number = StringField(
        "Routing number (US)", validators=[Length(max=9)], render_kw={"autocomplete": "off"}
    )
    reason = StringField("Reason (if this needs approval)", validators=[Optional(), Length(max=500)])
    submit = SubmitField("Save bank account")


class EvidenceForm(FlaskForm):
    product_description = TextAreaField("Product or service description", validators=[Length(max=20_000)])
    customer_communication = TextAreaField("Communication with the customer", validators=[Length(max=20_000)])
    shipping_tracking_number = StringField("Shipping tracking number", validators=[Length(max=200)])
    refund_policy = TextAreaField("Refund policy", validators=[Length(max=20_000)])
    uncategorized_text = TextAreaField("Other evidence", validators=[Length(max=20_000)])
    files = MultipleFileField("Files (PDF, PNG or JPEG, 4 MB each)")
    submit = SubmitField("Submit evidence")


class SettlementFileForm(FlaskForm):
    file = FileField("Settlement file (CSV)")
    day = DateField(
        "Settlement date",
        validators=[Optional()],
        description="Leave it empty to take the date from the file's lines.",
    )
    submit = SubmitField("Upload and reconcile")


class EndpointForm(FlaskForm):
    url = StringField(
        "Endpoint URL",
        validators=[DataRequired(message="Enter the URL that receives the events."), Length(max=2048)],
        description="https://, on the public internet (http:// only in test mode).",
        render_kw={"inputmode": "url", "placeholder": "https://shop.example/kassa/webhooks"},
    )
    events = StringField(
        "Event types",
        validators=[Length(max=2000)],
        description="Space-separated, like payment.succeeded refund.succeeded; empty: every type.",
    )
    description = StringField("Description", validators=[Length(max=500)])
    submit = SubmitField("Add endpoint")


class ActionForm(FlaskForm):
    """A button that changes one thing (CSRF-protected): capture, cancel, send a test event, resend, roll."""

    submit = SubmitField("Go")


class ReplayForm(FlaskForm):
    since = DateTimeLocalField(
        "Replay failed since",
        format="%Y-%m-%dT%H:%M",
        validators=[Optional()],
        description="UTC. Every delivery made since then that used up its retries is sent again.",
    )
    submit = SubmitField("Replay failed deliveries")


class RetryQueueForm(FlaskForm):
    """Retry every failed job of a queue (the operations page)."""

    queue = HiddenField(validators=[DataRequired(), Length(max=20)])
    submit = SubmitField("Retry all")


class RetryJobForm(RetryQueueForm):
    """Retry one failed job (the operations page)."""

    job_id = HiddenField(validators=[DataRequired(), Length(max=100)])
    submit = SubmitField("Retry")


class NotificationReadForm(FlaskForm):
    """Mark read (one, or all): nothing but the CSRF token."""

    submit = SubmitField("Mark read")


class AlertThresholdsForm(FlaskForm):
    """The CSRF token of the alert thresholds form; its fields (core/notifications/alerts.py `FIELDS`) are
    parsed and bounded by core, never trusted as given."""

    submit = SubmitField("Save thresholds")


class PreferencesForm(FlaskForm):
    """The CSRF token of the preferences form; its checkboxes (`portal-<kind>`, `email-<kind>`) are read
    against the kinds the member may receive (core/notifications/kinds.py), never trusted as given."""

    submit = SubmitField("Save preferences")


class RecoveryCodeForm(FlaskForm):
    code = StringField(
        "Recovery code",
        validators=[
            DataRequired(message="Enter one of your recovery codes."),
            Length(max=40, message="A recovery code looks like abcde-12345."),
        ],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
        description="One of the ten codes you saved when you set up two-step verification, like abcde-12345.",
    )
    submit = SubmitField("Verify")


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired(message="Enter your email."), KassaEmail(), Length(max=320)]
    )
    submit = SubmitField("Email me a link")


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[
            DataRequired(message="Enter a new password."),
            Length(min=12, max=1024, message="Use 12 to 1024 characters."),
        ],
        description="At least 12 characters.",
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[
            DataRequired(message="Repeat the new password."),
            EqualTo("password", "The passwords differ."),
        ],
    )
    submit = SubmitField("Set password")


class CurrentPasswordForm(FlaskForm):
    """The current password, asked again before a change to the account's own credentials; the forms of
    those changes add it to their own fields."""

    current = PasswordField(
        "Current password",
        validators=[DataRequired(message="Enter your current password."), Length(max=1024)],
    )
    submit = SubmitField("Continue")


class ChangePasswordForm(NewPasswordForm, CurrentPasswordForm):
    submit = SubmitField("Change password")


class ReenrollForm(CodeForm, CurrentPasswordForm):
    submit = SubmitField("Verify and switch")


class RevokeSessionForm(FlaskForm):
    submit = SubmitField("Sign out this session")
