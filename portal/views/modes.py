"""The header's test/live switch (portal/mode.py keeps the mode): a POST with CSRF, audited, that sends
the user back to the page they were on, or to its list when that page is one object of the old mode."""

from __future__ import annotations

import re
from typing import Final

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from core.audit import actions
from core.audit import service as audit
from core.web.request import uow
from portal import mode
from portal.views.auth import safe_next
from portal.views.forms import ModeForm
from portal.views.session import user_context

#: A page of one object (`/portal/payments/pay_…`, `…/refund`): after a switch, its list instead.
_OBJECT_PAGE: Final = re.compile(r"^(/portal/[a-z-]+)/[a-z]+_[A-Za-z0-9]+(/.*)?$")


def _back(next_url: str | None) -> str:
    target = safe_next(next_url) or url_for("portal.home")
    path = target.split("?", 1)[0]
    object_page = _OBJECT_PAGE.match(path)
    return object_page.group(1) if object_page else target


def switch_mode() -> Response:
    form = ModeForm()
    if not form.validate_on_submit():
        flash("Choose test or live mode.", "error")
        return redirect(_back(request.form.get("next")), code=303)
    before = mode.mode()
    mode.set_mode(form.mode.data or mode.TEST)
    if before != mode.mode():
        audit.record(
            uow().session,
            user_context(),
            actions.PORTAL_MODE_SWITCHED,
            subject=audit.Ref("user", current_user.id, current_user.tenant_id),
            details={"from": before, "to": mode.mode()},
        )
    return redirect(_back(form.next.data), code=303)
