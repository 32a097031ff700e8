"""The signed-in member's notifications: the bell's count in the header, the list (mark one or all
read) and their preferences per kind and channel. Each member sees only their own copies
(core/notifications: who receives what is decided when a notification is made)."""

from __future__ import annotations

import os

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from core.context import ActorType, Context
from core.errors import InvalidInput
from core.notifications import alerts, service
from core.notifications.kinds import Channel, Kind
from core.web.htmx import is_htmx, render_page_or_block
from core.web.request import actor, context, uow
from portal.views.forms import AlertThresholdsForm, NotificationReadForm, PreferencesForm

PAGE_SIZE = 25


def _ctx() -> Context:
    return context(actor(ActorType.USER, current_user.id))


#: How often an open portal page asks for the bell's count (htmx; without JavaScript each page shows it).
BELL_POLL_SECONDS = 30


def unread() -> int:
    """The bell's count (the portal's context processor asks on every signed-in page)."""
    return service.unread_count(uow().session, user_id=current_user.id)


def bell() -> str:
    """The bell alone, for its htmx poll: the count now, no full page reload."""
    return render_template(
        "portal/_bell_poll.html",
        count=unread(),
        current=request.args.get("current") == "1",
        poll_seconds=BELL_POLL_SECONDS,
    )


def notification_list() -> str:
    unread_only = request.args.get("unread") == "1"
    page = service.inbox(
        uow().session,
        user_id=current_user.id,
        limit=PAGE_SIZE,
        starting_after=request.args.get("after") or None,
        unread_only=unread_only,
    )
    return render_page_or_block(
        "portal/notifications/list.html",
        block="list",
        items=page.items,
        unread_only=unread_only,
        next_after=page.next_cursor,
        read_form=NotificationReadForm(),
    )


def mark_read(recipient_id: str) -> Response | str:
    form = NotificationReadForm()
    if not form.validate_on_submit():
        return redirect(url_for("portal.notifications"), code=303)
    item = service.mark_read(uow().session, _ctx(), user_id=current_user.id, recipient_id=recipient_id)
    if is_htmx():
        # The item, read now, and the bell's new count (out of band: it lives in the header).
        return render_page_or_block(
            "portal/notifications/list.html", block="item", item=item, read_form=form, bell_oob=True
        )
    return redirect(url_for("portal.notifications"), code=303)


def mark_all_read() -> Response:
    form = NotificationReadForm()
    if form.validate_on_submit():
        service.mark_all_read(
            uow().session, _ctx(), tenant_id=current_user.tenant_id, user_id=current_user.id
        )
    return redirect(url_for("portal.notifications"), code=303)


def _permissions() -> frozenset[str]:
    return frozenset(p.value for p in current_user.permissions)


def preferences() -> Response | tuple[str, int]:
    db = uow().session
    form = PreferencesForm()
    if request.method == "POST" and form.validate_on_submit():
        shown = service.preferences(db, user_id=current_user.id, permissions=_permissions())
        choices = {
            Kind(p.kind): (
                request.form.get(f"{Channel.PORTAL}-{p.kind}") == "on",
                request.form.get(f"{Channel.EMAIL}-{p.kind}") == "on",
            )
            for p in shown
        }
        service.set_preferences(
            db,
            _ctx(),
            tenant_id=current_user.tenant_id,
            user_id=current_user.id,
            permissions=_permissions(),
            choices=choices,
        )
        return redirect(url_for("portal.notification_preferences", saved=1), code=303)
    if request.method == "POST":  # the CSRF token was missing or stale: nothing was changed
        flash("The form had expired and nothing was saved. Choose again and save.", "error")
    page = _preferences_page(form=form, saved=request.args.get("saved") == "1")
    return page, 400 if request.method == "POST" else 200


def _preferences_page(
    *,
    form: PreferencesForm,
    saved: bool = False,
    thresholds_form: AlertThresholdsForm | None = None,
    entered: dict[str, str] | None = None,
    error: InvalidInput | None = None,
    thresholds_saved: bool = False,
) -> str:
    db = uow().session
    own = alerts.tenant_values(db) if current_user.can("settings:write") else {}
    defaults = alerts.Thresholds.from_env(os.environ)
    return render_page_or_block(
        "portal/notifications/preferences.html",
        block="thresholds" if thresholds_form is not None else None,
        form=form,
        rows=service.preferences(db, user_id=current_user.id, permissions=_permissions()),
        saved=saved,
        thresholds_form=thresholds_form or AlertThresholdsForm(),
        threshold_fields=[
            {
                "field": f,
                "default": getattr(defaults, f.name),
                "value": entered.get(f.name, "") if entered is not None else own.get(f.name, ""),
                "error": error.message if error is not None and error.param == f.name else None,
            }
            for f in alerts.FIELDS
        ],
        thresholds_saved=thresholds_saved or request.args.get("thresholds_saved") == "1",
    )


def alert_thresholds() -> Response | tuple[str, int]:
    """Save the tenant's alert thresholds (settings:write); an empty field means the default."""
    form = AlertThresholdsForm()
    entered = {f.name: request.form.get(f.name, "") for f in alerts.FIELDS}
    if not form.validate_on_submit():
        flash("The form had expired and nothing was saved. Enter the thresholds again and save.", "error")
        return _preferences_page(form=PreferencesForm(), thresholds_form=form, entered=entered), 400
    try:
        alerts.set_thresholds(
            uow().session,
            _ctx(),
            tenant_id=current_user.tenant_id,
            values=entered,
            updated_by=current_user.id,
            defaults=alerts.Thresholds.from_env(os.environ),
        )
    except InvalidInput as error:
        # htmx swaps only a 2xx answer: the section with its field errors comes as 200 to it, 400 to a form.
        page = _preferences_page(form=PreferencesForm(), thresholds_form=form, entered=entered, error=error)
        return page, 200 if is_htmx() else 400
    if is_htmx():
        return _preferences_page(form=PreferencesForm(), thresholds_form=form, thresholds_saved=True), 200
    return redirect(url_for("portal.notification_preferences", thresholds_saved=1), code=303)
