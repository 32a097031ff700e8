"""Portal reports: sales trend, approvals and declines, method and country mix, refunds, shoppers, fees
and payouts, each as an SVG chart or figures with its data table; HTMX swaps the report when a filter
changes, and the same form works without JavaScript. CSV exports stream from core/reports/exports.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from flask import Response, render_template, request
from flask_login import current_user

from core import money
from core.audit import actions
from core.audit import service as audit
from core.context import ActorType
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.reports import exports, queries
from core.web.htmx import render_page_or_block
from core.web.request import actor, context, runtime, uow
from portal import charts, mode
from tenants.lookup import tenant_by_id


def _group_by(f: queries.Filters, asked: str | None) -> str:
    if asked in queries.GROUP_BY:
        return asked
    return "day" if f.days <= 62 else "week" if f.days <= 190 else "month"


def _label(start: date, group_by: str) -> str:
    return start.strftime("%Y-%m") if group_by == "month" else start.isoformat()


def filters_from_request() -> queries.Filters:
    args = request.args
    return queries.filters_from(
        livemode=mode.livemode(),
        today=runtime().clock.now().date(),
        start=args.get("from"),
        end=args.get("to"),
        currency=args.get("currency"),
        method=args.get("method"),
        country=args.get("country"),
    )


def reports_page() -> tuple[str, int] | str:
    rt = runtime()
    with rt.analytics.unit_of_work(tenant_id=current_user.tenant_id) as analytics:
        return _reports_page(analytics.session)


def _reports_page(session: Any) -> tuple[str, int] | str:
    options = queries.options(session, livemode=mode.livemode())
    error: InvalidInput | None = None
    try:
        f = filters_from_request()
    except InvalidInput as problem:
        error = problem
        f = queries.filters_from(livemode=mode.livemode(), today=runtime().clock.now().date())
    f = _with_currency(session, f, options["currencies"])
    assert f.currency is not None
    compare = request.args.get("compare") == "1"
    group_by = _group_by(f, request.args.get("group_by"))
    (report,) = queries.summary(session, f, group_by=group_by)
    queries.breakdown(session, f, report)
    previous = None
    if compare:
        (previous,) = queries.summary(session, f.previous(), group_by=group_by)
    # The shopper figures read every shopper of the period (no rollup spares that for an arbitrary range):
    # the page asks for them in a second request (`reports_shoppers`); without JavaScript, `?shoppers=1`.
    shoppers = (
        _shoppers_view(queries.customers(session, f, currency=f.currency), f.currency)
        if request.args.get("shoppers") == "1"
        else {"shoppers": None}
    )
    context = {**_view(report, previous, f, group_by), **shoppers}
    if current_user.can("payouts:read"):
        context["payouts"] = queries.payouts(session, f, currency=f.currency)
    html = render_page_or_block(
        "portal/reports/index.html",
        block="report",
        f=f,
        compare=compare,
        group_by=group_by,
        options=options,
        error=error,
        query=_query(f, compare, group_by),
        **context,
    )
    return (html, 400) if error is not None else html


def _with_currency(session: Any, f: queries.Filters, currencies: list[str]) -> queries.Filters:
    """The filters with a currency: the one asked, else the busiest one with figures, else the tenant's."""
    if f.currency is not None:
        return f
    fallback = currencies[0] if currencies else tenant_by_id(session, current_user.tenant_id).default_currency
    return queries.Filters(**{**f.__dict__, "currency": fallback})


def reports_shoppers() -> tuple[str, int] | str:
    """The Shoppers section alone, for the reports page's htmx request (the same filters as the page)."""
    rt = runtime()
    with rt.analytics.unit_of_work(tenant_id=current_user.tenant_id) as analytics:
        session = analytics.session
        try:
            f = filters_from_request()
        except InvalidInput as problem:
            return render_template("portal/reports/_shoppers_error.html", error=problem), 400
        f = _with_currency(session, f, queries.currencies(session, livemode=mode.livemode()))
        assert f.currency is not None
        view = _shoppers_view(queries.customers(session, f, currency=f.currency), f.currency)
        return render_template("portal/reports/_shoppers.html", **view)


def _shoppers_view(shoppers: queries.Customers, currency: str) -> dict[str, Any]:
    return {
        "shoppers": shoppers,
        "fmt": lambda amount: money.format_amount(amount, currency),
        "shopper_chart": charts.donut_chart(
            [("new", shoppers.new), ("returning", shoppers.returning)],
            title="New and returning shoppers",
            fmt=lambda value: f"{value:,}",
        ),
    }


def _query(f: queries.Filters, compare: bool, group_by: str) -> dict[str, str]:
    """The filters as query parameters (export links carry the same ones)."""
    values = {
        "from": f.start.isoformat(),
        "to": f.end.isoformat(),
        "currency": f.currency or "",
        "method": f.method or "",
        "country": f.country or "",
        "group_by": group_by,
    }
    if compare:
        values["compare"] = "1"
    return {k: v for k, v in values.items() if v}


def _view(
    report: queries.CurrencyReport,
    previous: queries.CurrencyReport | None,
    f: queries.Filters,
    group_by: str,
) -> dict[str, Any]:
    currency = report.currency

    def fmt(amount: int) -> str:
        return money.format_amount(amount, currency)

    def num(value: int) -> str:
        return f"{value:,}"

    labels = [_label(p.start, group_by) for p in report.periods]
    volumes = [p.figures.volume for p in report.periods]
    previous_volumes = [p.figures.volume for p in previous.periods] if previous else None
    declines = [(d.key.replace("_", " "), d.count) for d in report.declines]
    methods = [(m.key, m.volume) for m in report.methods]
    countries = [(c.key, c.volume) for c in report.countries[:10]]
    t = report.totals
    return {
        "report": report,
        "previous": previous,
        "fmt": fmt,
        "labels": labels,
        "trend_chart": charts.line_chart(
            labels, volumes, title=f"Sales volume per {group_by}", fmt=fmt, previous=previous_volumes
        ),
        "outcome_chart": charts.donut_chart(
            [
                ("approved", t.approved),
                ("declined", t.failed),
                ("canceled", t.canceled),
                ("in flight", t.pending),
            ],
            title="Payment outcomes",
            fmt=num,
        ),
        "decline_chart": charts.bar_chart(declines, title="Decline reasons", fmt=num),
        "method_chart": charts.donut_chart(methods, title="Volume by payment method", fmt=fmt),
        "country_chart": charts.bar_chart(countries, title="Volume by country", fmt=fmt),
    }


def report_export(kind: str) -> Response:
    """A CSV export of the filtered range, streamed from the analytics database as it is read. Audited
    (what left, for which range) before the first byte; bad filters or codes are a 400 before it too."""
    if kind not in exports.EXPORTS:
        raise NotFound(f"There is no {kind!r} export.", param="kind")
    if kind in exports.PAYOUT_EXPORTS and not current_user.can("payouts:read"):
        raise PermissionDenied("This export needs the payouts:read permission.")
    f = filters_from_request()
    params = {name: request.args.get(name) for name in request.args}
    exports.AccountCodes.from_params(params)  # refuse bad codes now, not in the middle of the stream
    rt = runtime()
    tenant_id = current_user.tenant_id
    audit.record(
        uow().session,
        context(actor(ActorType.USER, current_user.id)),
        actions.REPORT_EXPORTED,
        subject=audit.Ref("report", kind, tenant_id),
        details={"from": f.start.isoformat(), "to": f.end.isoformat(), "currency": f.currency},
    )

    def lines() -> Iterator[str]:
        # Its own transaction: the request's has committed (and its audit entry with it) before streaming.
        with rt.analytics.unit_of_work(tenant_id=tenant_id) as analytics:
            yield from exports.export(analytics.session, kind, f, params)

    filename = f"kassa-{kind}-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    return Response(
        lines(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
