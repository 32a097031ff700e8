"""The REST API, `/api/v1` (Bearer secret key). Every URL rule is in blueprint.py."""

from __future__ import annotations

from flask import Flask

from core.web.extensions import csrf
from core.web.request import exempt_from_form_check
from portal.api.blueprint import bp


def init_app(app: Flask) -> None:
    # Bearer-authenticated and cookie-less: CSRF protects cookie sessions, which the API does not use.
    csrf.exempt(bp)
    # JSON only, checked by the API itself: a NUL names its parameter, a form-encoded body is refused with
    # the API's own message (portal/api/routing.py).
    exempt_from_form_check(app, bp)
    app.register_blueprint(bp)
