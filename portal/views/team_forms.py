"""Forms of the team, API keys and approvals screens (every one carries a CSRF token: FlaskForm)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.views.forms import KassaEmail
from tenants.permissions import Permission


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as checkboxes (works without JavaScript)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def options(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


PERMISSION_CHOICES = options([(p.value, p.value) for p in Permission])


class InviteForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(message="Enter the email to invite."), KassaEmail(), Length(max=320)],
    )
    role = SelectField("Role", validate_choice=False)
    submit = SubmitField("Send invitation")


class MemberRoleForm(FlaskForm):
    role = SelectField("Role", validate_choice=False)
    submit = SubmitField("Change role")


class ConfirmForm(FlaskForm):
    """A button that changes something: the CSRF token is all it carries."""

    submit = SubmitField("Confirm")


class RoleForm(FlaskForm):
    name = StringField(
        "Role name", validators=[DataRequired(message="Give the role a name."), Length(max=60)]
    )
    permissions = CheckboxesField("Permissions", choices=PERMISSION_CHOICES, validate_choice=False)
    reason = StringField(
        "Reason (for the approver, if this needs approval)", validators=[Optional(), Length(max=500)]
    )
    submit = SubmitField("Save role")


class AcceptForm(FlaskForm):
    password = PasswordField(
        "Password", validators=[DataRequired(message="Enter a password."), Length(max=1024)]
    )
    confirm = PasswordField("Confirm password", validators=[Optional(), Length(max=1024)])
    submit = SubmitField("Accept invitation")


class NewAccountForm(AcceptForm):
    confirm = PasswordField(
        "Confirm password",
        validators=[
            DataRequired(message="Enter the password again."),
            EqualTo("password", "The passwords differ."),
        ],
    )


class SwitchTenantForm(FlaskForm):
    tenant_id = HiddenField(validators=[DataRequired()])
    submit = SubmitField("Switch")


class CreateKeyForm(FlaskForm):
    mode = SelectField("Mode", choices=options([("test", "Test"), ("live", "Live")]))
    permissions = CheckboxesField(
        "Permissions",
        choices=PERMISSION_CHOICES,
        validate_choice=False,
        description="Choose the permissions of a restricted key; choose none for a full secret key.",
    )
    reason = StringField(
        "Reason (for the approver, if this needs approval)", validators=[Optional(), Length(max=500)]
    )
    submit = SubmitField("Create secret key")


class RollKeyForm(FlaskForm):
    overlap = SelectField(
        "Old key keeps working for",
        choices=options(
            [
                ("0", "No overlap: revoke it now"),
                ("3600", "1 hour"),
                ("86400", "24 hours"),
                ("604800", "7 days"),
            ]
        ),
        default="86400",
    )
    reason = StringField("Reason (if this needs approval)", validators=[Optional(), Length(max=500)])
    submit = SubmitField("Roll key")


class DecisionForm(FlaskForm):
    note = StringField("Note (optional)", validators=[Optional(), Length(max=500)])
    approve = SubmitField("Approve")
    decline = SubmitField("Decline")


class PolicyForm(FlaskForm):
    refund = BooleanField("Refunds above an amount")
    refund_thresholds = TextAreaField(
        "Amounts per currency",
        validators=[Optional(), Length(max=500)],
        description="One per line or comma-separated, like EUR 100.00. A refund above it needs approval.",
    )
    live_keys = BooleanField("Creating or rolling live secret keys")
    roles = BooleanField("Creating or changing custom roles")
    sso = BooleanField("Changing the single sign-on settings")
    bank_account = BooleanField("Changing the payout bank account")
    submit = SubmitField("Save")
