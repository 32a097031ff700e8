"""Every REST API URL rule, in one readable place."""

from __future__ import annotations

from flask import Blueprint, request

from portal.api import views
from portal.api.auth import authenticate

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: Endpoints that need no key (the API's own description).
PUBLIC = {"api.openapi"}


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in PUBLIC:
        authenticate()


bp.add_url_rule("/openapi.json", "openapi", views.openapi)
bp.add_url_rule("/checkout/settings", "checkout_settings", views.get_checkout_settings)
bp.add_url_rule(
    "/checkout/settings", "checkout_settings_update", views.patch_checkout_settings, methods=["PATCH"]
)
