"""Every portal URL rule, in one readable place."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.views import account, auth, dashboard, payments
from portal.views.forms import LogoutForm

bp = Blueprint("portal", __name__, url_prefix="/portal")


def root() -> Response:
    return redirect(url_for("portal.home"))


@bp.context_processor
def _portal_context() -> dict[str, object]:
    return {"logout_form": LogoutForm()}


bp.add_url_rule("/login", "login", auth.login, methods=["GET", "POST"])
bp.add_url_rule("/login/code", "login_code", auth.login_code, methods=["GET", "POST"])
bp.add_url_rule("/login/enroll", "enroll", auth.enroll, methods=["GET", "POST"])
bp.add_url_rule("/logout", "logout", auth.logout, methods=["POST"])
bp.add_url_rule(
    "/logout/everywhere", "logout_everywhere", login_required(auth.logout_everywhere), methods=["POST"]
)
bp.add_url_rule("/account", "account", login_required(account.account))
bp.add_url_rule("/", "home", login_required(dashboard.home))
bp.add_url_rule("/payments", "payments", login_required(payments.payment_list))
bp.add_url_rule("/payments/<payment_id>", "payment", login_required(payments.payment_detail))
