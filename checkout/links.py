"""Payment links: `/l/<slug>` opens a fresh checkout session on each visit; `/l/<slug>/qr.svg` its QR code.

A link with a fixed amount redirects straight to the hosted page. One that lets the shopper choose first
shows a small form (with the checkout's cookie-less CSRF token, bound to the slug).
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import segno
from babel.numbers import format_decimal
from flask import Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from checkout import branding
from checkout.forms import CheckoutForm
from core import money
from core.context import ActorType
from core.errors import InvalidInput, NotFound
from core.links import service as links
from core.links.models import PaymentLink
from core.ratelimit import RateLimiter
from core.web.i18n import current_locale
from core.web.request import actor, bind_tenant, client_ip, context, runtime, uow
from tenants import checkout_settings
from tenants.lookup import tenant_by_id

#: Sessions one IP address may open through links in an hour (each visit makes one).
VISITS_PER_IP_HOUR = 60


class AmountForm(CheckoutForm):
    custom_amount = StringField(
        _l("Amount"),
        validators=[DataRequired(message=_l("Enter the amount you want to pay.")), Length(max=30)],
        render_kw={"inputmode": "decimal", "autocomplete": "transaction-amount"},
    )


def _not_active() -> NotFound:
    return NotFound(_("This payment link is not active. Ask the shop for a new one."))


def _load(slug: str) -> PaymentLink:
    """Resolve the tenant from the slug itself, bind it, and load the active link (404 otherwise)."""
    tenant_id = links.tenant_of_slug(uow().session, slug)
    if tenant_id is None:
        raise _not_active()
    bind_tenant(tenant_id)
    try:
        return links.active_by_slug(uow().session, slug)
    except NotFound:
        raise _not_active() from None


def _example(currency: str, locale: str) -> str:
    """An amount as the shopper would type it here: "25.50" (en, EUR), "25,50" (de), "26" (JPY)."""
    digits = money.exponent(currency)
    pattern = "0." + "0" * digits if digits else "0"
    return str(format_decimal(Decimal("25.50"), format=pattern, locale=locale))


def _open(link: PaymentLink, amount: int | None) -> Response:
    limiter = RateLimiter(
        runtime().redis, name="payment-link-visits", limit=VISITS_PER_IP_HOUR, window_seconds=3600
    )
    if limiter.hit(client_ip() or "unknown") > limiter.limit:
        abort(429)
    terms = checkout_settings.session_terms(uow().session, tenant_id=link.tenant_id, livemode=link.livemode)
    shopper = context(actor(ActorType.SHOPPER, "shopper"))
    cs = links.open_session(uow().session, shopper, link=link, terms=terms, amount=amount)
    response = redirect(url_for("checkout.pay", session_id=cs.id), code=303)
    response.headers["Cache-Control"] = "no-store"  # every visit must reach us: it makes a new session
    return response


def visit(slug: str) -> Response | str:
    link = _load(slug)
    if link.amount is not None:
        return _open(link, None)
    locale = current_locale()
    form = AmountForm(session_id=f"link:{link.slug}")
    if request.method == "POST" and form.validate_on_submit():
        try:
            amount = links.parse_amount(form.custom_amount.data or "", link.currency, locale=locale)
        except InvalidInput:
            form.custom_amount.errors = [
                _(
                    "Enter an amount in %(currency)s like %(example)s.",
                    currency=link.currency,
                    example=_example(link.currency, locale),
                )
            ]
        else:
            return _open(link, amount)
    tenant = tenant_by_id(uow().session, link.tenant_id)
    context: dict[str, Any] = {
        # The checkout layout's header shows the link's description and the test-mode note.
        "cs": link,
        "brand": branding.of_tenant(
            tenant,
            livemode=link.livemode,
            logo_url=lambda v: url_for("checkout.link_logo", slug=link.slug, v=v),
        ),
        "amount_note": _("You choose the amount"),
        "embedded": False,
        "form": form,
        "slug": link.slug,
        "currency": link.currency,
        "example": _example(link.currency, locale),
    }
    response = Response(render_template("checkout/link_amount.html", **context))
    response.headers["Cache-Control"] = "no-store"
    return response


def logo(slug: str) -> Response:
    """The tenant's logo for the link's amount page (404 for an inactive link, or a tenant without one)."""
    link = _load(slug)
    return branding.logo_response(uow().session, tenant_id=link.tenant_id, livemode=link.livemode)


def qr_code(slug: str) -> Response:
    link = _load(slug)
    qr = segno.make(links.url_of(link, base_url=runtime().settings.base_url), error="m", micro=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=8, border=4, title=link.description or "Payment link")
    response = Response(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
