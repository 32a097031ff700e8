"""The settings screens: business profile, checkout branding (with a live preview of the hosted page),
checkout (widget origins, payment methods, receipt emails), risk thresholds and the block list.

Every screen reads with payments:read and changes with settings:write (the route table checks both).
Views stay thin: the form checks shape, one service checks the rules and writes (tenants/
business_profile.py, tenants/checkout_settings.py, core/risk), and its InvalidInput becomes the message
under the field it names. A change runs in a savepoint, so an error changes nothing; the answer to a form
in error is 400 (200 to htmx, which swaps only 2xx answers). Branding and checkout settings are per mode:
the screen shows and changes the portal's current mode's (portal/mode.py); the business profile and risk
rules are the account's, for both modes.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Callable
from typing import Any

from flask import Response, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from core import descriptors
from core.errors import InvalidInput
from core.risk import service as risk
from core.risk.models import DEFAULT_SETTINGS, BlockKind
from core.web.htmx import is_htmx, render_page_or_block
from core.web.request import uow
from portal import mode
from portal.views.session import user_context
from portal.views.settings_forms import (
    BLOCK_KIND_LABELS,
    METHOD_LABELS,
    THRESHOLDS,
    BlockForm,
    BrandingForm,
    BusinessProfileForm,
    CheckoutForm,
    RemoveBlockForm,
    RiskSettingsForm,
)
from tenants import branding as brand
from tenants import business_profile, checkout_settings, logos
from tenants.lookup import tenant_by_id
from tenants.models import User

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
#: The amount the preview's Pay button shows.
PREVIEW_AMOUNT = 2500


def _tenant_id() -> str:
    return str(current_user.tenant_id)


def _can_write() -> bool:
    return bool(current_user.can("settings:write"))


def _answer(template: str, *, status: int, block: str | None = None, **context: Any) -> tuple[str, int]:
    html = render_page_or_block(template, block=block, can_write=_can_write(), **context)
    # htmx swaps only 2xx answers: a form in error goes to it as 200 (nothing was written either way).
    return html, 200 if is_htmx() and status == 400 else status


def _attempt(form: FlaskForm, act: Callable[[], object], *, fallback: str) -> bool:
    """Run `act` in a savepoint; an InvalidInput goes under the field it names (else `fallback`'s) and
    rolls back whatever `act` wrote. True when it went through."""
    db = uow().session
    try:
        with db.begin_nested():
            act()
    except business_profile.ProfileInvalid as exc:
        for name, message in exc.errors.items():
            getattr(form, name, getattr(form, fallback)).errors.append(message)
        return False
    except InvalidInput as exc:
        getattr(form, exc.param or fallback, getattr(form, fallback)).errors.append(exc.message)
        return False
    return True


def _saved(endpoint: str, message: str) -> Response:
    """After a change: back to the screen (303), which shows `message`. htmx is told to load it whole
    (HX-Redirect), so the message and every part of the page show the saved state."""
    flash(message, "success")
    url = url_for(endpoint)
    if is_htmx():
        response = Response("", status=200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)  # type: ignore[return-value]


def _form_error_status(form: FlaskForm) -> None:
    if "csrf_token" in form.errors:
        flash("The form had expired and nothing was saved. Try again.", "error")


# -- business profile ---------------------------------------------------------------------------------


def business() -> tuple[str, int]:
    profile = business_profile.of(uow().session, tenant_id=_tenant_id())
    form = BusinessProfileForm(formdata=None, data=profile.as_dict())
    return _answer("portal/settings/business.html", status=200, form=form, profile=profile)


def save_business() -> Response | tuple[str, int]:
    form = BusinessProfileForm()
    db = uow().session
    if form.validate_on_submit():
        values = {name: form[name].data for name in business_profile.FIELDS}
        if _attempt(
            form,
            lambda: business_profile.update(db, user_context(), tenant_id=_tenant_id(), values=values),
            fallback="legal_name",
        ):
            return _saved("portal.settings_business", "Business profile saved. Receipts show it from now on.")
    _form_error_status(form)
    profile = business_profile.of(db, tenant_id=_tenant_id())
    return _answer("portal/settings/business.html", status=400, block="form", form=form, profile=profile)


# -- branding -----------------------------------------------------------------------------------------


def _preview(
    *, display_name: str | None = None, brand_color: str | None = None, descriptor: str | None = None
) -> dict[str, Any]:
    """What the hosted page would show: the saved branding of this mode, with the unsaved values of the
    form laid over it (those that are well formed)."""
    db = uow().session
    tenant = tenant_by_id(db, _tenant_id())
    livemode = mode.livemode()
    stored = checkout_settings.stored_of(tenant, livemode=livemode)
    if display_name and display_name.strip():
        stored["display_name"] = display_name.strip()[:100]
    chosen = (brand_color or "").strip()
    if brand_color is not None:
        stored["brand_color"] = chosen.lower() if _HEX.match(chosen) else None
    found = logos.info(stored)
    logo = (
        brand.Logo(
            url=url_for("portal.settings_logo", v=found.version), width=found.width, height=found.height
        )
        if found
        else None
    )
    shown_descriptor = checkout_settings.statement_descriptor_of(tenant, livemode=livemode)
    if descriptor is not None and descriptor.strip():
        # A bad one: the form says what is wrong; the preview keeps the saved one.
        with contextlib.suppress(InvalidInput):
            shown_descriptor = descriptors.normalize(descriptor)
    elif descriptor is not None:
        shown_descriptor = descriptors.derive(
            str(stored.get("display_name") or tenant.name), slug=tenant.slug
        )
    shown = brand.branding(stored, tenant_name=tenant.name, logo=logo, statement_descriptor=shown_descriptor)
    wanted = str(stored.get("brand_color") or "")
    replaced = bool(wanted) and shown.color != wanted
    return {
        "brand": shown,
        "methods": [
            METHOD_LABELS[m] for m in checkout_settings.payment_methods_of(tenant, livemode=livemode)
        ],
        "amount": PREVIEW_AMOUNT,
        "currency": tenant.default_currency,
        "color_replaced": replaced,
        "wanted_color": wanted,
        "color_contrast": round(max(brand.contrast(wanted, t) for t in ("#ffffff", "#111111")), 2)
        if replaced
        else None,
        "css_url": url_for(
            "portal.settings_preview_css", color=shown.color, on=shown.on_color, accent=shown.accent
        ),
    }


def _branding_form() -> BrandingForm:
    view = checkout_settings.view(uow().session, tenant_id=_tenant_id(), livemode=mode.livemode())
    return BrandingForm(
        formdata=None,
        data={
            "display_name": view["display_name"],
            "brand_color": view["brand_color"] or "",
            "statement_descriptor": view["statement_descriptor"] or "",
        },
    )


def branding() -> tuple[str, int]:
    view = checkout_settings.view(uow().session, tenant_id=_tenant_id(), livemode=mode.livemode())
    return _answer(
        "portal/settings/branding.html", status=200, form=_branding_form(), settings=view, **_preview()
    )


def _data_url(upload: FileStorage) -> str:
    data = upload.read(logos.MAX_BYTES + 1)
    if len(data) > logos.MAX_BYTES:
        raise InvalidInput("The logo is larger than 100 KB. Save a smaller PNG, JPEG or WebP.", param="logo")
    return f"data:{upload.mimetype or 'application/octet-stream'};base64,{base64.b64encode(data).decode()}"


def save_branding() -> Response | tuple[str, int]:
    """Save, or (the Preview button, or htmx as the form is typed in) only show the preview."""
    form = BrandingForm()
    db = uow().session
    livemode = mode.livemode()
    # htmx posts the form as it is typed in (hx-trigger="input"), only ever for the preview.
    previewing = bool(form.preview.data) or is_htmx()
    preview = _preview(
        display_name=form.display_name.data,
        brand_color=form.brand_color.data,
        descriptor=form.statement_descriptor.data or "",
    )
    if previewing:
        if is_htmx():
            return _answer("portal/settings/branding.html", status=200, block="preview", **preview)
        form.validate()
        view = checkout_settings.view(db, tenant_id=_tenant_id(), livemode=livemode)
        return _answer("portal/settings/branding.html", status=200, form=form, settings=view, **preview)
    if form.validate_on_submit():

        def act() -> None:
            changes: dict[str, Any] = {
                "display_name": form.display_name.data or "",
                "brand_color": (form.brand_color.data or "").strip() or None,
                "statement_descriptor": (form.statement_descriptor.data or "").strip() or None,
            }
            upload = form.logo.data
            if form.remove_logo.data:
                changes["logo"] = None
            elif isinstance(upload, FileStorage) and upload.filename:
                changes["logo"] = _data_url(upload)
            checkout_settings.update(
                db, user_context(), tenant_id=_tenant_id(), livemode=livemode, changes=changes
            )

        if _attempt(form, act, fallback="display_name"):
            flash(f"Branding saved for {mode.mode()} mode.", "success")
            return redirect(url_for("portal.settings_branding"), code=303)
    _form_error_status(form)
    view = checkout_settings.view(db, tenant_id=_tenant_id(), livemode=livemode)
    return _answer("portal/settings/branding.html", status=400, form=form, settings=view, **preview)


def preview_css() -> Response:
    """The preview's colours as a stylesheet of Kassa's own origin (the portal's CSP allows no inline
    style): only colours tenants/branding.py computed, each checked to be a hex colour."""
    values = {name: request.args.get(name, "") for name in ("color", "on", "accent")}
    if not all(_HEX.match(v) for v in values.values()):
        values = {"color": brand.DEFAULT_COLOR, "on": "#ffffff", "accent": brand.DEFAULT_COLOR}
    css = (
        f".checkout-preview {{ --brand: {values['color']}; --on-brand: {values['on']}; "
        f"--preview-accent: {values['accent']}; }}\n"
    )
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def logo() -> Response:
    """The saved logo of this mode, for the preview (the hosted page serves its own copy)."""
    found = logos.load(uow().session, tenant_id=_tenant_id(), livemode=mode.livemode())
    if found is None:
        return Response("No logo.", status=404, mimetype="text/plain")
    info, data = found
    response = Response(data, mimetype=info.content_type)
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


# -- checkout: origins, methods, receipts -------------------------------------------------------------


def _checkout_page(form: CheckoutForm, *, status: int) -> tuple[str, int]:
    view = checkout_settings.view(uow().session, tenant_id=_tenant_id(), livemode=mode.livemode())
    return _answer(
        "portal/settings/checkout.html",
        status=status,
        block="form" if status != 200 else None,
        form=form,
        settings=view,
    )


def checkout() -> tuple[str, int]:
    view = checkout_settings.view(uow().session, tenant_id=_tenant_id(), livemode=mode.livemode())
    form = CheckoutForm(
        formdata=None,
        data={
            "allowed_origins": "\n".join(view["allowed_origins"]),
            "payment_methods": view["payment_methods"],
            "receipt_emails": view["receipt_emails"],
        },
    )
    return _checkout_page(form, status=200)


def save_checkout() -> Response | tuple[str, int]:
    form = CheckoutForm()
    db = uow().session
    if form.validate_on_submit():
        origins = [line.strip() for line in (form.allowed_origins.data or "").splitlines() if line.strip()]
        changes = {
            "allowed_origins": origins,
            "payment_methods": list(form.payment_methods.data or []),
            "receipt_emails": bool(form.receipt_emails.data),
        }
        if not changes["payment_methods"]:
            form.payment_methods.errors.append("Keep at least one payment method on.")
        elif _attempt(
            form,
            lambda: checkout_settings.update(
                db, user_context(), tenant_id=_tenant_id(), livemode=mode.livemode(), changes=changes
            ),
            fallback="allowed_origins",
        ):
            return _saved("portal.settings_checkout", f"Checkout settings saved for {mode.mode()} mode.")
    _form_error_status(form)
    return _checkout_page(form, status=400)


# -- risk ---------------------------------------------------------------------------------------------


def _authors(blocks: list[Any]) -> dict[str, str]:
    """The email of each user who added one of `blocks` (others are named by their actor type)."""
    ids = {b.created_by_id for b in blocks if b.created_by_type == "user" and b.created_by_id}
    if not ids:
        return {}
    rows = uow().session.execute(select(User.id, User.email).where(User.id.in_(sorted(ids))))
    return {user_id: email for user_id, email in rows}


def _risk_page(
    *, settings_form: RiskSettingsForm | None = None, block_form: BlockForm | None = None, status: int = 200
) -> tuple[str, int]:
    db = uow().session
    current = risk.get_settings(db, tenant_id=_tenant_id())
    if settings_form is None:
        settings_form = RiskSettingsForm(formdata=None, data={k: str(current[k]) for k in THRESHOLDS})
    blocks = risk.list_blocks(db, tenant_id=_tenant_id())
    return _answer(
        "portal/settings/risk.html",
        status=status,
        settings_form=settings_form,
        block_form=block_form or BlockForm(formdata=None),
        remove_form=RemoveBlockForm(),
        blocks=blocks,
        authors=_authors(blocks),
        kind_labels=BLOCK_KIND_LABELS,
        hashed_kinds=(BlockKind.EMAIL, BlockKind.IP, BlockKind.CARD),
        current=current,
        defaults=DEFAULT_SETTINGS,
    )


def risk_settings() -> tuple[str, int]:
    return _risk_page()


def save_risk() -> Response | tuple[str, int]:
    form = RiskSettingsForm()
    db = uow().session
    if form.validate_on_submit():
        changes: dict[str, Any] = {}
        for name in THRESHOLDS:
            text = (form[name].data or "").strip().replace(",", "").replace("_", "")
            if not text.isdigit():
                form[name].errors.append("Enter a whole number (0 switches the rule off).")
            else:
                changes[name] = int(text)
        if not any(form[name].errors for name in THRESHOLDS) and _attempt(
            form,
            lambda: risk.update_settings(db, tenant_id=_tenant_id(), changes=changes, ctx=user_context()),
            fallback="max_amount",
        ):
            flash("Risk thresholds saved. They apply to test and live payments.", "success")
            return redirect(url_for("portal.settings_risk"), code=303)
    _form_error_status(form)
    return _risk_page(settings_form=form, status=400)


def add_block() -> Response | tuple[str, int]:
    form = BlockForm()
    db = uow().session
    ctx = user_context()
    if form.validate_on_submit() and _attempt(
        form,
        lambda: risk.add_block(
            db,
            tenant_id=_tenant_id(),
            kind=form.kind.data or "",
            value=form.value.data or "",
            note=form.note.data,
            clock=ctx.clock,
            ctx=ctx,
        ),
        fallback="value",
    ):
        flash("Added to the block list: matching payments are blocked from now on.", "success")
        return redirect(url_for("portal.settings_risk") + "#block-list", code=303)
    _form_error_status(form)
    return _risk_page(block_form=form, status=400)


def remove_block(block_id: str) -> Response:
    form = RemoveBlockForm()
    if not form.validate_on_submit():
        flash("The form had expired and nothing was removed. Try again.", "error")
        return redirect(url_for("portal.settings_risk"), code=303)
    risk.remove_block(uow().session, tenant_id=_tenant_id(), block_id=block_id, ctx=user_context())
    flash("Removed from the block list.", "success")
    return redirect(url_for("portal.settings_risk") + "#block-list", code=303)


def index() -> Response:
    return redirect(url_for("portal.settings_business"), code=302)
