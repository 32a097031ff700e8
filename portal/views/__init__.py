"""The merchant portal (server-rendered, HTMX-enhanced). Every URL rule is in blueprint.py."""

from __future__ import annotations

from flask import Flask

from core.web.extensions import login_manager
from portal.views.blueprint import bp, root
from portal.views.session import load_from_request


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "portal.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    # No flask-login session protection: the server-side session (revocable, idle and absolute limits,
    # a new token at every sign-in) replaces it, and flask-login's `_user_id` never enters the cookie.
    login_manager.session_protection = None
    login_manager.request_loader(load_from_request)
    app.register_blueprint(bp)
    app.add_url_rule("/", "root", root)
