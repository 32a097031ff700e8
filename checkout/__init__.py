"""Shopper-facing surface (PCI-scoped): hosted page, embed page, approval pages."""

from __future__ import annotations

from flask import Flask

from checkout.blueprint import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
