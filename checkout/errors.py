"""The checkout's error pages: the card layout, the shop's branding when the session is known, words for a
shopper (not a developer), and a next step: back to the shop, or try again.

core/web/errors.py decides the status, the message and the locale (the session's language, else
Accept-Language) and never shows a trace; this module draws the page for the checkout's paths.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from checkout import branding
from core.web import errors

#: The checkout's paths: the hosted page, its embed twin and payment links.
PREFIXES = ("/pay/", "/embed/", "/l/")
#: Headings a shopper understands; any other status keeps the shared page's title.
TITLES = {
    404: _l("Not found"),
    409: _l("This payment can't go ahead"),
    429: _l("Too many requests"),
    500: _l("Something went wrong"),
    503: _l("Temporarily unavailable"),
}
HINTS = {
    400: _l("Go back to the payment page and try again."),
    404: _l("Check the link, or ask the shop for a new one."),
    409: _l("Go back to the payment page to see where your payment stands."),
    429: _l("Wait a little and try again."),
    500: _l("Try again in a moment. If it keeps happening, contact the shop and quote the request id below."),
    503: _l("Try again in a minute."),
}
#: Statuses where the same page may work a moment later: the page offers "Try again".
RETRYABLE = frozenset({409, 429, 500, 503})
NEUTRAL = branding.branding({}, tenant_name="Kassa")


def _retry_url() -> str:
    # A POST is not repeated by a link; its page (the same path, GET) is where the shopper starts again.
    return request.full_path.rstrip("?") if request.method == "GET" else request.path


def render(page: errors.ErrorPage) -> str:
    tenant, cs = g.get("checkout_tenant"), g.get("checkout_session")
    brand = NEUTRAL
    context: dict[str, Any] = {"cs": cs, "amount": None}
    if tenant is not None and cs is not None:
        brand = branding.of_tenant(
            tenant,
            livemode=cs.livemode,
            logo_url=lambda v: url_for("checkout.logo", session_id=cs.id, v=v),
        )
        context["amount"] = cs.amount
    title = TITLES.get(page.status)
    # A specific message ("This payment link is not valid. Ask the shop…") says what a 404 hint would.
    repeats = page.status == 404 and page.message != errors.NO_SUCH_RESOURCE
    return render_template(
        "checkout/error.html",
        brand=brand,
        embedded=False,  # no widget messages from an error: the merchant's page hears `failure` elsewhere
        status=page.status,
        title=str(title) if title is not None else errors.translated_title(page.status),
        message=_(page.message) if page.message else "",
        hint="" if repeats else str(HINTS.get(page.status, "")),
        request_id=page.request_id,
        # A session's cancel_url is the way back to the shop it came from.
        shop_url=getattr(cs, "cancel_url", None),
        retry_url=_retry_url() if page.status in RETRYABLE else None,
        **context,
    )


def init_app(app: Flask) -> None:
    errors.register_page(app, PREFIXES, render)
