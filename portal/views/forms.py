from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

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


class RefundForm(FlaskForm):
    amount = StringField(
        "Amount to refund",
        validators=[
            Length(max=24),
            Regexp(
                r"^\s*([0-9]+([.,][0-9]+)?)?\s*$", message="Enter an amount like 10.50, or leave it empty."
            ),
        ],
        description="Leave empty to refund all that is left.",
        render_kw={"inputmode": "decimal"},
    )
    #: Read only when the refund is held for a second person's approval (tenants/approvals.py).
    approval_reason = StringField("Reason, if it needs approval", validators=[Length(max=500)])
    submit = SubmitField("Refund")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")
