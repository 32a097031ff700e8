"""Portal webhooks: the endpoints (add one, its secret shown once), one endpoint with its delivery log, and
its actions: resend one delivery, replay the failed ones since a time, send a test event, roll the
secret, switch it on or off. Every action needs webhooks:manage (portal/views/blueprint.py)."""

from __future__ import annotations

from datetime import UTC, timedelta

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response

from core.db import get_by_id
from core.errors import KassaError
from core.web.htmx import render_page_or_block
from core.web.request import runtime, uow
from core.webhooks import queries
from core.webhooks import service as webhooks
from core.webhooks.models import WebhookDelivery
from portal import mode
from portal.views.forms import (
    ActionForm,
    EndpointForm,
    ReplayForm,
)
from portal.views.session import user_context

DELIVERIES_SHOWN = 50


def _policy() -> webhooks.Policy:
    return webhooks.Policy(allow_private=runtime().settings.webhooks_allow_private)


def endpoint_list() -> str:
    page = queries.list_endpoints(uow().session, livemode=mode.livemode(), limit=100)
    return render_page_or_block(
        "portal/webhooks/list.html",
        endpoints=page.items,
        form=EndpointForm(),
        types=webhooks.DELIVERABLE_TYPES,
    )


def endpoint_create() -> Response | str:
    form = EndpointForm()
    if form.validate_on_submit():
        chosen = [t for t in (form.events.data or "").replace(",", " ").split() if t] or ["*"]
        try:
            endpoint, secret = webhooks.create_endpoint(
                uow().session,
                user_context(),
                tenant_id=_tenant_id(),
                livemode=mode.livemode(),
                url=(form.url.data or "").strip(),
                events=chosen,
                description=(form.description.data or "").strip() or None,
                policy=_policy(),
            )
        except KassaError as error:
            if error.status >= 500:
                raise
            uow().rollback()
            form.url.errors = [*form.url.errors, error.message] if error.param == "url" else form.url.errors
            if error.param != "url":
                form.events.errors = [*form.events.errors, error.message]
        else:
            # Rendered in this answer (not redirected): the secret is never kept, not even in the cookie.
            return _detail(endpoint.id, secret=secret)
    page = queries.list_endpoints(uow().session, livemode=mode.livemode(), limit=100)
    return render_page_or_block(
        "portal/webhooks/list.html", endpoints=page.items, form=form, types=webhooks.DELIVERABLE_TYPES
    )


def _tenant_id() -> str:
    from flask_login import current_user

    return str(current_user.tenant_id)


def endpoint_detail(endpoint_id: str) -> str:
    return _detail(endpoint_id)


def _detail(endpoint_id: str, *, secret: str | None = None) -> str:
    db = uow().session
    endpoint = webhooks.get_endpoint(db, endpoint_id=endpoint_id)
    deliveries = queries.list_deliveries(db, endpoint_id=endpoint.id, limit=DELIVERIES_SHOWN).items
    attempts = queries.attempts_of(db, delivery_ids=[d.id for d in deliveries])
    default_since = (runtime().clock.now() - timedelta(days=3)).replace(second=0, microsecond=0, tzinfo=None)
    return render_page_or_block(
        "portal/webhooks/detail.html",
        endpoint=endpoint,
        deliveries=deliveries,
        attempts=attempts,
        secret=secret,
        action_form=ActionForm(),
        replay_form=ReplayForm(since=default_since),
    )


def _back(endpoint_id: str) -> Response:
    return redirect(url_for("portal.webhook", endpoint_id=endpoint_id), code=303)


def _act(endpoint_id: str, action: str) -> Response | str:
    db = uow().session
    endpoint = webhooks.get_endpoint(db, endpoint_id=endpoint_id)  # another tenant's: 404
    if not ActionForm().validate_on_submit():
        flash("The form expired: try again.", "error")
        return _back(endpoint.id)
    try:
        if action == "test":
            delivery = webhooks.send_test_event(db, user_context(), endpoint_id=endpoint.id)
            flash(f"Test event queued ({delivery.id}).", "success")
        elif action == "roll":
            _, secret = webhooks.rotate_secret(db, user_context(), endpoint_id=endpoint.id)
            flash("New secret made: the old one signs too for 24 hours.", "success")
            return _detail(endpoint.id, secret=secret)
        elif action in ("enable", "disable"):
            webhooks.update_endpoint(
                db,
                user_context(),
                endpoint_id=endpoint.id,
                changes={"enabled": action == "enable"},
                policy=_policy(),
            )
            flash("Endpoint enabled." if action == "enable" else "Endpoint disabled.", "success")
    except KassaError as error:
        if error.status >= 500:
            raise
        uow().rollback()
        flash(error.message, "error")
    return _back(endpoint.id)


def send_test(endpoint_id: str) -> Response | str:
    return _act(endpoint_id, "test")


def roll_secret(endpoint_id: str) -> Response | str:
    return _act(endpoint_id, "roll")


def enable(endpoint_id: str) -> Response | str:
    return _act(endpoint_id, "enable")


def disable(endpoint_id: str) -> Response | str:
    return _act(endpoint_id, "disable")


def resend(endpoint_id: str, delivery_id: str) -> Response:
    db = uow().session
    endpoint = webhooks.get_endpoint(db, endpoint_id=endpoint_id)
    delivery = get_by_id(db, WebhookDelivery, delivery_id, prefix="whd", what="webhook delivery")
    if delivery.endpoint_id != endpoint.id or not ActionForm().validate_on_submit():
        flash("Nothing was resent: try again.", "error")
        return _back(endpoint.id)
    try:
        webhooks.resend(db, user_context(), delivery_id=delivery.id)
        flash(f"Resending {delivery.id}.", "success")
    except KassaError as error:
        if error.status >= 500:
            raise
        uow().rollback()
        flash(error.message, "error")
    return _back(endpoint.id)


def replay(endpoint_id: str) -> Response:
    db = uow().session
    endpoint = webhooks.get_endpoint(db, endpoint_id=endpoint_id)
    form = ReplayForm()
    if not form.validate_on_submit() or form.since.data is None:
        flash("Enter the time to replay from, like 2026-12-01 09:00.", "error")
        return _back(endpoint.id)
    since = form.since.data.replace(tzinfo=UTC) if form.since.data.tzinfo is None else form.since.data
    try:
        replayed = webhooks.replay(db, user_context(), endpoint_id=endpoint.id, since=since)
        flash(f"Replaying {len(replayed)} failed deliveries.", "success")
    except KassaError as error:
        if error.status >= 500:
            raise
        uow().rollback()
        flash(error.message, "error")
    return _back(endpoint.id)
