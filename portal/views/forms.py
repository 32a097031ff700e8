from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Regexp


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired(message="Enter your email."), Email(), Length(max=320)]
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


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")
