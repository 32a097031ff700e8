"""The signed-in user's own account: their open sessions, and signing out everywhere."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from core.web.request import runtime, uow
from portal.views.forms import LogoutForm
from tenants import portal_sessions


def account() -> str:
    sessions = portal_sessions.open_sessions(uow().session, user_id=current_user.id, clock=runtime().clock)
    return render_template("portal/account.html", sessions=sessions, everywhere_form=LogoutForm())
