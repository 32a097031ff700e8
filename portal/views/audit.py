"""The audit log screen: who did what, when, from where, with what outcome, on which subject; filters
(HTMX swaps the rows, a plain GET works the same), cursor pages, a streamed CSV export, one event's
details, and the chain's verification status with "Verify now".

Everything reads the signed-in tenant's chain only (core/audit/queries.py, in the request's tenant unit of
work): another tenant's event id is a 404.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, request, stream_with_context, url_for
from flask_login import current_user

from core.audit import actions, queries
from core.audit import service as audit
from core.audit.models import AuditEvent
from core.errors import InvalidInput
from core.ratelimit import LimiterUnavailable, RateLimiter
from core.web.htmx import render_page_or_block
from core.web.request import runtime, uow
from portal.views.auth import user_context
from portal.views.forms import LogoutForm
from tenants.lookup import actor_names, user_id_by_email

PAGE_SIZE = 50
#: "Verify now" walks the whole chain: at most this many checks per tenant per minute.
VERIFY_PER_MINUTE = 3


def _filters() -> tuple[queries.AuditFilter, dict[str, str]]:
    """The filter of the query string, and the raw values (to show back in the form)."""
    raw = {k: (request.args.get(k) or "").strip() for k in ("actor", "action", "subject", "since", "until")}
    actor_id: str | None = raw["actor"] or None
    if actor_id and "@" in actor_id:
        # An email names a person: their user id (no such person: an id that matches nothing).
        actor_id = user_id_by_email(uow().session, actor_id) or "usr_unknown"
    filters = queries.AuditFilter.parse(
        actor_id=actor_id,
        action=raw["action"],
        subject_id=raw["subject"],
        since=raw["since"],
        until=raw["until"],
    )
    return filters, raw


def _names(events: list[AuditEvent], *more: str) -> dict[str, str]:
    return actor_names(uow().session, {e.actor_id for e in events} | set(more))


def audit_list() -> str | tuple[str, int]:
    errors: dict[str, str] = {}
    raw: dict[str, str] = {}
    try:
        filters, raw = _filters()
        page = queries.list_events(
            uow().session, filters=filters, limit=PAGE_SIZE, starting_after=request.args.get("after") or None
        )
    except InvalidInput as exc:
        errors[exc.param or "filters"] = exc.message
        filters, page = queries.AuditFilter(), None
    events = list(page.items) if page else []
    verification = queries.last_verification(uow().session)
    context: dict[str, Any] = {
        "events": events,
        "names": _names(events, *([verification.actor_id] if verification else [])),
        "raw": raw,
        "errors": errors,
        "actions": queries.ALL_ACTIONS,
        "params": filters.as_params(),
        "next_after": page.next_cursor if page else None,
        "verification": verification,
        "verify_form": LogoutForm(),
    }
    body = render_page_or_block("portal/audit/list.html", block="rows", **context)
    return (body, 400) if errors else body


def audit_event(event_id: str) -> str:
    db = uow().session
    event = queries.get_event(db, event_id=event_id)  # another tenant's id: 404
    details = audit.read_details(db, event, kms=runtime().kms)
    return render_page_or_block(
        "portal/audit/detail.html", event=event, details=details, names=_names([event])
    )


def audit_export() -> Response:
    """The filtered trail as CSV, streamed in batches from a unit of work of its own (the request's is
    committed and closed before the body is sent). The export itself is audited."""
    filters, _raw = _filters()
    rt = runtime()
    tenant_id = current_user.tenant_id
    audit.record(
        uow().session,
        user_context(current_user.id),
        actions.AUDIT_EXPORTED,
        subject=audit.Ref("audit_chain", tenant_id, tenant_id),
        details={"filters": filters.as_params()},
    )

    def body() -> Any:
        with rt.db.unit_of_work(tenant_id=tenant_id) as own:
            yield from queries.csv_rows(own.session, filters=filters)

    stamp = rt.clock.now().strftime("%Y%m%d-%H%M%S")
    response = Response(stream_with_context(body()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="kassa-audit-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def audit_verify() -> Response:
    form = LogoutForm()
    back = redirect(url_for("portal.audit"), code=303)
    if not form.validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return back
    rt = runtime()
    limiter = RateLimiter(rt.redis, name="audit-verify", limit=VERIFY_PER_MINUTE, window_seconds=60)
    try:
        if limiter.hit(current_user.tenant_id) > VERIFY_PER_MINUTE:
            flash("The chain was just checked. Try again in a minute.", "error")
            return back
    except LimiterUnavailable:
        pass  # fail open: a check changes nothing, and its cost is bounded by the chain's length
    record, problems = queries.verify_and_record(
        uow().session, user_context(current_user.id), tenant_id=current_user.tenant_id
    )
    if record.ok:
        flash(f"The audit chain is intact (checked through event {record.seq}).", "success")
    else:
        flash(f"The audit chain is broken: {len(problems)} problem(s). {problems[0]}", "error")
    return back
