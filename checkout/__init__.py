"""Shopper-facing surface (PCI-scoped): hosted page, embed page, approval pages."""

from __future__ import annotations

from flask import Flask

from checkout import errors, fields, inventory
from checkout.blueprint import bp
from core.web.extensions import csrf


def init_app(app: Flask) -> None:
    # Checkout forms carry their own cookie-less CSRF token (checkout/csrf.py): the page also runs in a
    # third-party iframe, where the session cookie is not sent.
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.jinja_env.globals["checkout_field"] = fields.field
    inventory.init_app(app)
    errors.init_app(app)
