"""Every checkout URL rule, in one readable place."""

from __future__ import annotations

from flask import Blueprint

from checkout import views

bp = Blueprint("checkout", __name__)

bp.add_url_rule("/pay/<session_id>", "pay", views.pay, methods=["GET"])
