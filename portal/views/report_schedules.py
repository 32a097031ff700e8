"""Scheduled exports in the portal: the list and the form (reports:read), removing one, and the signed
download link the emails carry (public: the signed token is the credential, core/reports/schedules.py).
Plain forms and links: everything works without JavaScript."""

from __future__ import annotations

from collections.abc import Iterator

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField, SubmitField

from core.audit import actions
from core.audit import service as audit
from core.context import ActorType
from core.errors import KassaError, NotFound
from core.reports import schedules
from core.web.request import actor, bind_tenant, context, runtime, uow
from portal import mode
from portal.views.team import attempt
from portal.views.team_forms import CheckboxesField, ConfirmForm, options
from tenants import report_exports


class ScheduleForm(FlaskForm):
    kind = SelectField("Export", choices=options(list(schedules.KINDS.items())))
    period = SelectField(
        "Covering",
        choices=options(list(schedules.PERIODS.items())),
        description="The previous period: yesterday, last week (Monday to Sunday) or last month.",
    )
    frequency = SelectField("Sent", choices=options(list(schedules.FREQUENCIES.items())))
    recipients = CheckboxesField("Recipients", validate_choice=False)
    submit = SubmitField("Schedule export")


def _form(readers: dict[str, str]) -> ScheduleForm:
    form = ScheduleForm()
    form.recipients.choices = options(list(readers.items()))
    if not form.is_submitted():
        form.recipients.data = [current_user.id] if current_user.id in readers else []
    return form


def schedules_page() -> str | Response | tuple[str, int]:
    session = uow().session
    readers = report_exports.readers(session)
    form = _form(readers)
    if form.validate_on_submit():
        back = redirect(url_for("portal.report_schedules"), code=303)
        return attempt(
            lambda: schedules.create(
                session,
                context(actor(ActorType.USER, current_user.id)),
                livemode=mode.livemode(),
                kind=form.kind.data or "",
                period=form.period.data or "",
                frequency=form.frequency.data or "",
                recipients=list(form.recipients.data or []),
                allowed_recipients=set(readers),
                created_by=current_user.id,
            ),
            back,
            lambda made: f"Scheduled. The first file comes {made.next_run_at:%Y-%m-%d %H:%M} UTC.",
        )
    status = 400 if form.is_submitted() else 200
    html = render_template(
        "portal/reports/schedules.html",
        form=form,
        confirm=ConfirmForm(),
        rows=schedules.list_schedules(session, livemode=mode.livemode()),
        readers=readers,
        kinds=schedules.KINDS,
        periods=schedules.PERIODS,
        frequencies=schedules.FREQUENCIES,
    )
    return (html, status) if status != 200 else html


def schedule_delete(schedule_id: str) -> Response:
    back = redirect(url_for("portal.report_schedules"), code=303)
    if not ConfirmForm().validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return back
    return attempt(
        lambda: schedules.delete(
            uow().session,
            context(actor(ActorType.USER, current_user.id)),
            schedule_id=schedule_id,
            livemode=mode.livemode(),
        ),
        back,
        "Scheduled export removed.",
    )


def download(token: str) -> Response | tuple[str, int]:
    """The file a signed link names, streamed; only for its recipient while they may read reports."""
    rt = runtime()
    now = rt.clock.now()
    try:
        link = schedules.read(rt.settings.secret_key, token, now=now)
        bind_tenant(link.tenant_id)
        session = uow().session
        made = schedules.check_file(session, link, now=now)
        if report_exports.may_read(session, link.user_id) is None:
            raise NotFound(schedules.INVALID, param="token")
    except KassaError as error:
        return render_template("portal/reports/download_problem.html", problem=error.message), error.status
    audit.record(
        session,
        context(actor(ActorType.USER, link.user_id)),
        actions.REPORT_EXPORT_DOWNLOADED,
        subject=made,
        details={"kind": made.kind, "from": made.start.isoformat(), "to": made.end.isoformat()},
    )

    def lines() -> Iterator[str]:
        # Its own transaction: the request's (and its audit entry) commits before the first byte.
        with rt.analytics.unit_of_work(tenant_id=link.tenant_id) as analytics:
            yield from schedules.stream(analytics.session, made)

    return Response(
        lines(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{schedules.filename(made)}"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
