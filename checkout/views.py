"""Hosted checkout views: parse the form, call one payment service, render or redirect.

Every step works with plain form posts and redirects (no JavaScript needed); htmx only polls the status
fragment instead of the page's meta refresh.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from babel.numbers import format_percent
from flask import Response, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from checkout import branding, embed
from checkout.forms import AnswerForm, BankForm, CardForm, CheckoutForm, ReceiptEmailForm, WalletForm
from core import money
from core.context import ActorType, Context
from core.errors import InvalidInput, KassaError, NotFound
from core.locality.service import LocalityRules
from core.payments import service, sessions
from core.payments.models import CheckoutSession, Payment, PaymentStatus, SessionStatus
from core.ratelimit import RateLimiter
from core.receipts import service as receipts
from core.risk import test_cards
from core.vault.cards import IIN_RANGES
from core.vault.models import CardBrand
from core.web.htmx import is_htmx
from core.web.i18n import current_locale
from core.web.request import actor, bind_tenant, client_ip, context, runtime, uow
from tenants import checkout_settings
from tenants.resolution import checkout_session_and_tenant, tenant_of_checkout_session

FORMS: dict[str, type[CheckoutForm]] = {"card": CardForm, "wallet": WalletForm, "bank": BankForm}
#: Which form field shows a service error about this parameter.
FIELD_OF_PARAM = {
    "card_number": "number",
    "exp_month": "expiry",
    "exp_year": "expiry",
    "cvc": "cvc",
    "postal_code": "postal_code",
    "customer_email": "email",
}
DECLINE_TEXT = {
    "card_declined": _l("Your card was declined. Try another card or payment method."),
    "insufficient_funds": _l("Your card has insufficient funds. Try another card or payment method."),
    "expired_card": _l("Your card has expired. Try another card."),
    "authentication_failed": _l(
        "The card issuer could not confirm it was you. Try again or use another card."
    ),
    "payment_declined": _l("The payment was not approved. Try again or choose another payment method."),
    "risk_blocked": _l("This payment could not be accepted. Try another payment method."),
    "processor_unavailable": _l(
        "The payment could not be completed right now. Please try again in a few minutes."
    ),
}


#: The card brands the page shows marks of (static/checkout/brands/<brand>.svg), with their names.
CARD_BRANDS: dict[str, str] = {
    CardBrand.VISA: "Visa",
    CardBrand.MASTERCARD: "Mastercard",
    CardBrand.AMEX: "American Express",
    CardBrand.DISCOVER: "Discover",
    CardBrand.JCB: "JCB",
    CardBrand.DINERS: "Diners Club",
    CardBrand.UNIONPAY: "UnionPay",
    CardBrand.MAESTRO: "Maestro",
}
#: The marks shown while no brand is detected (all of them would crowd the number field).
SHOWN_BRANDS = (CardBrand.VISA, CardBrand.MASTERCARD, CardBrand.AMEX, CardBrand.MAESTRO)
#: The vault's brand table as the page's script reads it: [[brand, prefix length, first, last], ...].
CARD_RANGES = json.dumps([[str(b), n, lo, hi] for b, n, lo, hi in IIN_RANGES], separators=(",", ":"))


def _card_page() -> dict[str, Any]:
    return {"card_brands": CARD_BRANDS.items(), "shown_brands": SHOWN_BRANDS, "card_ranges": CARD_RANGES}


def _shopper() -> Context:
    """The shopper's call edge: every checkout action is the anonymous shopper's."""
    return context(actor(ActorType.SHOPPER, "shopper"))


def load_session(session_id: str) -> CheckoutSession:
    """Resolve the tenant from the session id itself, bind it, and load the session (404 if unknown)."""
    tenant_id = tenant_of_checkout_session(uow().session, session_id)
    if tenant_id is None:
        raise NotFound(_("This payment link is not valid. Ask the shop for a new one."))
    bind_tenant(tenant_id)
    cs, tenant = checkout_session_and_tenant(uow().session, session_id)  # one round trip for both
    sessions.refresh_expiry(uow().session, _shopper(), cs)
    g.checkout_tenant, g.checkout_session = tenant, cs
    g.checkout_rules = sessions.rules_of(uow().session, cs, country=tenant.country, at=runtime().clock.now())
    g.checkout_locale = cs.locale
    g.checkout_default_locale = g.checkout_rules.default_language
    embed.enter(cs)
    return cs


def _payment_of(cs: CheckoutSession, payment_id: str) -> Payment:
    payment = service.get(uow().session, payment_id=payment_id)
    if payment.checkout_session_id != cs.id:
        raise NotFound(_("This payment link is not valid. Ask the shop for a new one."))
    return payment


def _context(cs: CheckoutSession) -> dict[str, Any]:
    """What every checkout template gets (load_session has read the tenant and its locality rules)."""
    tenant, rules = g.checkout_tenant, g.checkout_rules
    return {
        "cs": cs,
        "brand": branding.of_tenant(
            tenant, livemode=cs.livemode, logo_url=lambda v: url_for("checkout.logo", session_id=cs.id, v=v)
        ),
        "amount": cs.amount,
        "rules": rules,
        "embedded": bool(g.get("embedded")),
    }


def _charges(cs: CheckoutSession, rules: LocalityRules, method: str) -> dict[str, Any]:
    """The surcharge and the total the Pay button shows for `method` (no surcharge: the plain amount), in
    minor units of the session's currency: the template formats them (`|money`, core/web/templating.py)."""
    locale = current_locale()
    surcharge = rules.surcharge_on(cs.amount, method)
    total = cs.amount + surcharge
    return {
        "surcharge": surcharge,
        "surcharge_percent": format_percent(
            rules.surcharge_bps / 10_000, locale=locale, decimal_quantization=False
        ),
        "total": total,
    }


def _unavailable(cs: CheckoutSession, problem: str) -> Response:
    """The page for a checkout the locality rules don't let this shopper pay, in the shopper's words."""
    rules: LocalityRules = g.checkout_rules
    locale = current_locale()
    if problem == "amount_too_small":
        limit = money.format_amount(rules.min_amount or 0, cs.currency, locale)
        reason = _("This shop accepts payments of at least %(amount)s here.", amount=limit)
    elif problem == "amount_too_large":
        limit = money.format_amount(rules.max_amount or 0, cs.currency, locale)
        reason = _("This shop accepts payments of at most %(amount)s here.", amount=limit)
    else:
        reason = _("None of this shop's payment methods is available in your country.")
    page = render_template("checkout/unavailable.html", reason=reason, **_context(cs))
    return Response(page, status=422)


def _success_url(cs: CheckoutSession) -> str:
    # In the widget's iframe the receipt tells the merchant's page (a `success` message) instead.
    if not cs.success_url or embed.is_embedded():
        return url_for("checkout.receipt", session_id=cs.id)
    parts = urlsplit(cs.success_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("session_id", cs.id)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _closed(cs: CheckoutSession) -> Response:
    status = 410 if cs.status is SessionStatus.EXPIRED else 200
    return Response(render_template("checkout/closed.html", **_context(cs)), status=status)


# --- the page and the form ------------------------------------------------------------------------------


def pay(session_id: str) -> Response | str:
    cs = load_session(session_id)
    if cs.status is SessionStatus.COMPLETE:
        return redirect(_success_url(cs))
    if cs.status is SessionStatus.EXPIRED:
        return _closed(cs)
    if cs.payment_id is not None:
        current = service.get(uow().session, payment_id=cs.payment_id)
        if current.status in service.IN_FLIGHT:
            return redirect(url_for("checkout.status", session_id=cs.id, payment_id=current.id))
    ctx = _context(cs)
    rules: LocalityRules = ctx["rules"]
    problem = rules.problem(cs.amount)
    if problem is not None:
        return _unavailable(cs, problem)
    method = request.args.get("method") if request.method == "GET" else request.form.get("method")
    if method not in rules.methods:
        method = rules.methods[0]
    form = FORMS[method](session_id=cs.id)
    if "email" in rules.required_fields:
        form.email.flags.required = True  # rendered as `required`; the payment service enforces it
    if request.method == "POST" and form.validate_on_submit():
        outcome = _confirm(cs, form, method, rules)
        if isinstance(outcome, Payment):
            return redirect(url_for("checkout.status", session_id=cs.id, payment_id=outcome.id), code=303)
    failure = None
    failed_id = request.args.get("failed")
    if failed_id:
        failed = _payment_of(cs, failed_id)
        if failed.status is PaymentStatus.FAILED:
            failure = str(
                DECLINE_TEXT.get(failed.failure_code or "", _l("The payment was declined. Try again."))
            )
            embed.notify("failure", code=failed.failure_code, message=failure)
            # The shopper tries again: keep the email they gave (the card's name comes back in the browser,
            # static/checkout/card.js: Kassa does not store it).
            if request.method == "GET" and not cs.customer_email and failed.customer_email:
                form.email.data = failed.customer_email
    return render_template(
        "checkout/pay.html",
        form=form,
        method=method,
        failure=failure,
        **_card_page(),
        **_charges(cs, rules, method),
        **ctx,
    )


def _confirm(cs: CheckoutSession, form: CheckoutForm, method: str, rules: LocalityRules) -> Payment | None:
    limiter = RateLimiter(runtime().redis, name="checkout-attempts", limit=10, window_seconds=3600)
    ip_limiter = RateLimiter(runtime().redis, name="checkout-attempts-ip", limit=30, window_seconds=3600)
    ip = client_ip() or "unknown"
    number = form.number.data if isinstance(form, CardForm) else None
    per_ip = not test_cards.developer_payment(livemode=cs.livemode, card_number=number)
    if limiter.hit(cs.id) > limiter.limit or (per_ip and ip_limiter.hit(ip) > ip_limiter.limit):
        form.form_errors.append(_("Too many payment attempts. Wait a while or contact the shop."))
        return None
    data: dict[str, Any] = {
        "method": method,
        "client_ip": client_ip(),
        "customer_email": (getattr(form, "email", None) and form.email.data) or None,
        "country": rules.country,
        # Resolved now and kept on the payment: what the shopper was told is what the processor gets.
        "statement_descriptor": checkout_settings.statement_descriptor_of(
            g.checkout_tenant, livemode=cs.livemode
        ),
    }
    if isinstance(form, CardForm):
        month, year = form.expiry_parts()
        data |= {
            "card_number": form.number.data,
            "exp_month": month,
            "exp_year": year,
            "cvc": (form.cvc.data or "").strip(),
            "cardholder_name": form.name.data,
            "postal_code": form.postal_code.data,
        }
    try:
        return service.confirm(
            uow().session,
            _shopper(),
            tenant_id=cs.tenant_id,
            session_id=cs.id,
            data=service.PaymentInput(**data),
        )
    except InvalidInput as exc:
        field = getattr(form, FIELD_OF_PARAM.get(exc.param or "", ""), None)
        message = _(exc.message)
        if field is not None:
            field.errors = [message]
        else:
            form.form_errors.append(message)
        return None


# --- after Pay: status, 3DS, approvals, receipt ---------------------------------------------------------


def _next_url(cs: CheckoutSession, payment: Payment) -> str | None:
    """Where the shopper goes from this payment's state (None: stay and wait)."""
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.AUTHORIZED):
        return _success_url(cs)
    if payment.status is PaymentStatus.REQUIRES_ACTION:
        endpoint = "checkout.challenge" if str(payment.action_type) == "three_ds" else "checkout.approve"
        return url_for(endpoint, session_id=cs.id, payment_id=payment.id)
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        return url_for("checkout.pay", session_id=cs.id, failed=payment.id, method=str(payment.method))
    return None


def status(session_id: str, payment_id: str) -> Response | str:
    cs = load_session(session_id)
    payment = _payment_of(cs, payment_id)
    target = _next_url(cs, payment)
    if target is not None:
        if is_htmx():
            response = Response("", status=200)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)
    from core.web.htmx import render_page_or_block

    return render_page_or_block("checkout/status.html", block="status", payment=payment, **_context(cs))


def challenge(session_id: str, payment_id: str) -> Response | str:
    return _answer(session_id, payment_id, kind="three_ds", template="checkout/challenge.html")


def approve(session_id: str, payment_id: str) -> Response | str:
    return _answer(session_id, payment_id, kind="approval", template="checkout/approve.html")


def _answer(session_id: str, payment_id: str, *, kind: str, template: str) -> Response | str:
    cs = load_session(session_id)
    payment = _payment_of(cs, payment_id)
    is_three_ds = str(payment.action_type) == "three_ds"
    if payment.status is not PaymentStatus.REQUIRES_ACTION or is_three_ds != (kind == "three_ds"):
        return redirect(
            _next_url(cs, payment) or url_for("checkout.status", session_id=cs.id, payment_id=payment.id)
        )
    form = AnswerForm(session_id=cs.id)
    if request.method == "POST" and form.validate_on_submit():
        allowed = ("passed", "failed") if is_three_ds else ("approved", "declined")
        if form.result.data not in allowed:
            abort(400)
        service.complete_action(
            uow().session,
            _shopper(),
            tenant_id=cs.tenant_id,
            payment_id=payment.id,
            result=form.result.data,
            bank=form.bank.data or None,
        )
        return redirect(url_for("checkout.status", session_id=cs.id, payment_id=payment.id), code=303)
    return render_template(template, form=form, payment=payment, **_context(cs))


def receipt(session_id: str) -> Response | str:
    cs = load_session(session_id)
    if cs.status is not SessionStatus.COMPLETE or cs.payment_id is None:
        return redirect(url_for("checkout.pay", session_id=cs.id))
    if not request.args.get("emailed"):
        # Back from the email form it is the same payment: the merchant's page heard `success` already.
        embed.notify("success", session=cs.id, payment=cs.payment_id)
    return _receipt_page(cs, cs.payment_id, ReceiptEmailForm(session_id=cs.id))


def receipt_email(session_id: str) -> Response | str:
    """The receipt page's "Email me a receipt": queue one to the address given, then back to the page."""
    cs = load_session(session_id)
    if cs.status is not SessionStatus.COMPLETE or cs.payment_id is None:
        return redirect(url_for("checkout.pay", session_id=cs.id))
    form = ReceiptEmailForm(session_id=cs.id)
    if form.validate_on_submit():
        rt = runtime()
        try:
            queued = receipts.request(
                uow().session,
                _shopper(),
                cs=cs,
                email=form.email.data or "",
                locale=current_locale(),
                limiter=receipts.request_limiter(rt.redis),
            )
        except InvalidInput as exc:
            form.email.errors = [_(exc.message)]
        except KassaError as exc:
            form.form_errors.append(_(exc.message))
        else:
            return redirect(url_for("checkout.receipt", session_id=cs.id, emailed=queued.id), code=303)
    return _receipt_page(cs, cs.payment_id, form)


def _receipt_page(cs: CheckoutSession, payment_id: str, form: ReceiptEmailForm) -> str:
    payment = service.get(uow().session, payment_id=payment_id)
    emailed = receipts.of_payment(uow().session, payment_id=payment.id)
    # The automatic receipt is queued by a worker just after the payment: until its row exists, say so.
    automatic = receipts.automatic_address(uow().session, payment, cs) if not emailed else None
    paid_at = payment.updated_at if payment.updated_at.tzinfo else payment.updated_at.replace(tzinfo=UTC)
    context = {
        **_context(cs),
        # The header shows what was charged: the session's amount plus any card surcharge.
        "amount": payment.amount,
    }
    return render_template(
        "checkout/receipt.html",
        payment=payment,
        receipts=emailed,
        automatic_receipt_to=automatic,
        receipt_on_its_way=automatic is not None or any(r.status != "failed" for r in emailed),
        form=form,
        # `|datetime` shows it in the shopper's words with its zone ("1. Dezember 2026, 06:59:03 UTC").
        paid_at=paid_at,
        paid_at_iso=paid_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        # Back to the shop: the session's cancel_url is its way back (in the widget, the shop is around us).
        shop_url=None if embed.is_embedded() else cs.cancel_url,
        # What this payment was sent with; the tenant's current one for a payment made before descriptors.
        statement_descriptor=payment.statement_descriptor
        or checkout_settings.statement_descriptor_of(g.checkout_tenant, livemode=cs.livemode),
        **context,
    )


def logo(session_id: str) -> Response:
    """The tenant's logo for this session's pages: found through the session (another tenant's session
    gets that tenant's logo, or 404), and neither opening nor expiring the session as the page does."""
    tenant_id = tenant_of_checkout_session(uow().session, session_id)
    if tenant_id is None:
        raise NotFound(_("This payment link is not valid. Ask the shop for a new one."))
    bind_tenant(tenant_id)
    # The session's mode picks the logo: a test-mode logo never shows on a live checkout.
    cs = sessions.get(uow().session, session_id=session_id)
    return branding.logo_response(uow().session, tenant_id=tenant_id, livemode=cs.livemode)


def cancel(session_id: str) -> Response | str:
    """Back to the shop. In the widget's iframe the merchant's page is told (a `cancel` message) instead
    of the iframe loading the shop's cancel page inside itself; the session stays open either way."""
    cs = load_session(session_id)
    if embed.is_embedded():
        embed.notify("cancel", session=cs.id)
        return render_template("checkout/canceled.html", **_context(cs))
    if cs.cancel_url:
        return redirect(cs.cancel_url)
    return redirect(url_for("checkout.pay", session_id=cs.id))
