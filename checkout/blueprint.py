"""Every checkout URL rule, in one readable place. Every one is public: a shopper has no account; the
session id (or the link slug) in the URL is what grants access (core/web/access.py)."""

from __future__ import annotations

from flask import Blueprint

from checkout import embed, links, views
from core.web.access import public

bp = Blueprint("checkout", __name__)

#: The steps of the hosted page: (path after the session, endpoint, view, methods).
STEPS = [
    ("", "pay", views.pay, ["GET", "POST"]),
    ("/payments/<payment_id>", "status", views.status, ["GET"]),
    ("/payments/<payment_id>/challenge", "challenge", views.challenge, ["GET", "POST"]),
    ("/payments/<payment_id>/approve", "approve", views.approve, ["GET", "POST"]),
    ("/receipt", "receipt", views.receipt, ["GET"]),
    ("/receipt/email", "receipt_email", views.receipt_email, ["POST"]),
    ("/cancel", "cancel", views.cancel, ["GET"]),
    ("/logo", "logo", views.logo, ["GET"]),
]

# Each step twice, under one endpoint: the hosted page /pay/<session>… first (what url_for builds
# outside embed mode), then its embed twin /embed/<session>… for the widget's iframe. The `embed` default
# tells them apart; checkout/embed.py turns it into g.embedded and keeps it on the URLs a step builds.
for prefix, embedded in (("/pay", False), ("/embed", True)):
    for path, endpoint, view, methods in STEPS:
        bp.add_url_rule(
            f"{prefix}/<session_id>{path}",
            endpoint,
            public(view),
            methods=methods,
            defaults={embed.MODE_ARG: embedded},
        )
embed.init_blueprint(bp)

bp.add_url_rule("/l/<slug>", "link", public(links.visit), methods=["GET", "POST"])
bp.add_url_rule("/l/<slug>/qr.svg", "link_qr", public(links.qr_code))
bp.add_url_rule("/l/<slug>/logo", "link_logo", public(links.logo))
