"""The signed-in member's notifications: the bell's count in the header, the list (mark one or all
read) and their preferences per kind and channel. Each member sees only their own copies
(core/notifications: who receives what is decided when a notification is made)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from core.context import ActorType, Context
from core.notifications import service
from core.notifications.kinds import Channel, Kind
from core.web.htmx import is_htmx, render_page_or_block
from core.web.request import actor, context, uow
from portal.views.forms import NotificationReadForm, PreferencesForm

PAGE_SIZE = 25


def _ctx() -> Context:
    return context(actor(ActorType.USER, current_user.id))


def unread() -> int:
    """The bell's count (the portal's context processor asks on every signed-in page)."""
    return service.unread_count(uow().session, user_id=current_user.id)


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
    page = render_page_or_block(
        "portal/notifications/preferences.html",
        form=form,
        rows=service.preferences(db, user_id=current_user.id, permissions=_permissions()),
        saved=request.args.get("saved") == "1",
    )
    return page, 400 if request.method == "POST" else 200
