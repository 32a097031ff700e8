"""Every checkout URL rule, in one readable place."""

from __future__ import annotations

from flask import Blueprint

from checkout import views

bp = Blueprint("checkout", __name__)

bp.add_url_rule("/pay/<session_id>", "pay", views.pay, methods=["GET", "POST"])
bp.add_url_rule("/pay/<session_id>/payments/<payment_id>", "status", views.status)
bp.add_url_rule(
    "/pay/<session_id>/payments/<payment_id>/challenge", "challenge", views.challenge, methods=["GET", "POST"]
)
bp.add_url_rule(
    "/pay/<session_id>/payments/<payment_id>/approve", "approve", views.approve, methods=["GET", "POST"]
)
bp.add_url_rule("/pay/<session_id>/receipt", "receipt", views.receipt)
bp.add_url_rule("/pay/<session_id>/cancel", "cancel", views.cancel)
