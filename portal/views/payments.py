"""The payments workspace: the filtered list (HTMX, the filter state in the URL, cursor pages, a streamed
CSV of the same list), one payment as a timeline, and its actions: refund (with a confirmation step),
capture and cancel of a manual-capture payment, resend the receipt.

Every screen shows the portal session's mode (portal/mode.py); an object of the other mode is not found
here, with a way to switch. portal/views/blueprint.py checks each route's permission before it runs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, flash, redirect, request, stream_with_context, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from core import money
from core.context import ActorType
from core.errors import InvalidInput, KassaError, NotFound
from core.payments import queries, service, sessions
from core.payments.models import Payment, PaymentMethod, PaymentStatus
from core.receipts import service as receipts
from core.web.htmx import is_htmx, render_page_or_block
from core.web.request import runtime, uow
from core.workspace import exports
from core.workspace.timeline import payment_timeline
from portal import mode
from portal.views.forms import AMOUNT_HINT, ActionForm, PaymentFilterForm, ReceiptForm, RefundForm
from portal.views.session import user_context
from tenants import approvals
from tenants.lookup import tenant_by_id

PAGE_SIZE = 25
#: The query parameters of the list that are its filter state (the cursor ones page through it).
FILTER_PARAMS = ("q", "status", "method", "risk", "currency", "country", "amount_min", "amount_max",
                 "created_from", "created_to")  # fmt: skip


class OtherMode(NotFound):
    """The object exists, in the other mode: not shown here (the page offers the switch)."""


def filter_form(args: MultiDict[str, str]) -> PaymentFilterForm:
    form = PaymentFilterForm(formdata=args)
    form.status.choices = [("", "All"), *((s.value, s.value.replace("_", " ")) for s in PaymentStatus)]
    form.method.choices = [("", "All"), *((m.value, m.value.title()) for m in PaymentMethod)]
    form.risk.choices = [("", "All"), *((d, d.title()) for d in queries.RISK_DECISIONS)]
    return form


def _minor(text: str | None, currency: str, param: str) -> int | None:
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return money.from_decimal(Decimal(text), currency, param=param)
    except InvalidOperation:
        raise InvalidInput(AMOUNT_HINT, param=param) from None


def _start_of(day: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def payment_filter(form: PaymentFilterForm) -> queries.PaymentFilter:
    """The core filter of a valid form. Amounts are in the chosen currency's units, else the account's."""
    currency = (form.currency.data or "").strip().upper() or None
    unit = currency or tenant_by_id(uow().session, current_user.tenant_id).default_currency
    created_to = form.created_to.data
    return queries.PaymentFilter(
        search=(form.q.data or "").strip() or None,
        status=form.status.data or None,
        method=form.method.data or None,
        risk_decision=form.risk.data or None,
        currency=currency,
        country=(form.country.data or "").strip().upper() or None,
        amount_gte=_minor(form.amount_min.data, unit, "amount_min"),
        amount_lte=_minor(form.amount_max.data, unit, "amount_max"),
        created_gte=_start_of(form.created_from.data) if form.created_from.data else None,
        # The day "to" is included: everything before the next midnight.
        created_lte=_start_of(created_to) + timedelta(days=1) - timedelta(microseconds=1)
        if created_to
        else None,
    )


def _filters_of(args: MultiDict[str, str]) -> dict[str, str]:
    return {key: args[key] for key in FILTER_PARAMS if args.get(key)}


def payment_list() -> tuple[str, int] | str:
    form = filter_form(request.args)
    filters = _filters_of(request.args)
    payments: list[Payment] = []
    page = None
    if form.validate():
        try:
            page = queries.list_payments(
                uow().session,
                livemode=mode.livemode(),
                limit=PAGE_SIZE,
                starting_after=request.args.get("after") or None,
                ending_before=request.args.get("before") or None,
                where=payment_filter(form),
            )
            payments = list(page.items)
        except InvalidInput as error:
            field = getattr(form, error.param or "", None)
            if field is None:
                raise
            field.errors = [error.message]
    html = render_page_or_block(
        "portal/payments/list.html",
        block="rows",
        form=form,
        payments=payments,
        filters=filters,
        filtered=bool(filters),
        has_errors=bool(form.errors),
        next_after=page.next_cursor if page else None,
        prev_before=_newer_cursor(payments, page),
    )
    # A bad filter is a 400 to a plain request; htmx swaps only 2xx answers, so it gets the errors as 200.
    return (html, 400) if form.errors and not is_htmx() else html


def _newer_cursor(payments: list[Payment], page: Any) -> str | None:
    """The `before` cursor of the page of newer payments, when there are any: after an `after` cursor
    there are; after a `before` one, the page says so itself."""
    if not payments:
        return None
    if request.args.get("after") or (request.args.get("before") and page.has_more):
        return payments[0].id
    return None


def payments_csv() -> Response:
    """The filtered list as CSV, every page of it, streamed: one query per 100 rows, constant memory."""
    form = filter_form(request.args)
    if not form.validate():
        first = next(iter(form.errors.items()))
        raise InvalidInput(f"{getattr(form, first[0]).label.text}: {first[1][0]}", param=first[0])
    where = payment_filter(form)
    livemode = mode.livemode()
    tenant_id = current_user.tenant_id
    rt = runtime()

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def flush() -> str:
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return text

        writer.writerow(exports.PAYMENT_COLUMNS)
        yield flush()
        # Its own unit of work: the request's has committed and closed before the body streams.
        with rt.db.unit_of_work(tenant_id=tenant_id) as work:
            for n, p in enumerate(queries.iter_payments(work.session, livemode=livemode, where=where), 1):
                writer.writerow(exports.payment_row(p))
                if n % 100 == 0:
                    yield flush()
        yield flush()

    name = f"payments-{'live' if livemode else 'test'}-{rt.clock.now():%Y%m%d-%H%M}.csv"
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def in_mode(payment: Payment) -> Payment:
    if payment.livemode != mode.livemode():
        raise OtherMode(
            f"This payment is a {'live' if payment.livemode else 'test'}-mode payment. "
            f"Switch to {'live' if payment.livemode else 'test'} mode to see it."
        )
    return payment


def _load(payment_id: str) -> Payment:
    return in_mode(service.get(uow().session, payment_id=payment_id))


def payment_detail(payment_id: str) -> str:
    payment = _load(payment_id)
    story = payment_timeline(uow().session, payment=payment)
    email = payment.customer_email or (
        story.checkout_session.customer_email if story.checkout_session else None
    )
    return render_page_or_block(
        "portal/payments/detail.html",
        payment=payment,
        story=story,
        refund_form=RefundForm() if current_user.can("payments:refund") else None,
        action_form=ActionForm() if current_user.can("payments:capture") else None,
        receipt_form=ReceiptForm(email=email) if current_user.can("payments:refund") else None,
    )


def _refund_amount(text: str, currency: str) -> int | None:
    return _minor(text, currency, "amount")


def _flash_errors(form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")


def refund(payment_id: str) -> Response | str:
    """Two steps: the amount (or nothing: all that is left) is checked and shown in the payment's currency
    for confirmation, with the reason a second person reads if the refund needs their approval; the
    confirmed form refunds, or holds the refund for approval (tenants/approvals.py)."""
    db = uow().session
    payment = _load(payment_id)  # another tenant's payment: 404
    form = RefundForm()
    back = redirect(url_for("portal.payment", payment_id=payment.id), code=303)
    if not form.validate_on_submit():
        _flash_errors(form)
        return back
    try:
        amount = _refund_amount(form.amount.data or "", payment.currency)
        if form.confirmed.data != "yes":
            to_refund = queries.refundable(payment, amount)
            return render_page_or_block(
                "portal/payments/refund_confirm.html",
                payment=payment,
                amount=to_refund,
                full=to_refund == payment.amount_captured - payment.amount_refunded,
                form=RefundForm(
                    formdata=None,
                    amount=form.amount.data or "",
                    confirmed="yes",
                    approval_reason=form.approval_reason.data or "",
                ),
            )
        if amount is None:
            amount = payment.amount_captured - payment.amount_refunded
        # A refund above the tenant's four-eyes amount is held for a second person (tenants/approvals.py);
        # otherwise it is carried out now, by the same executor an approval runs (`service.refund`).
        outcome = approvals.submit_or_run(
            db,
            user_context(),
            kind_name=approvals.REFUND,
            params={
                "payment_id": payment.id,
                "amount": amount,
                "currency": payment.currency,
                "reason": "requested_by_customer",
            },
            summary=approvals.refund_summary(payment_id=payment.id, amount=amount, currency=payment.currency),
            reason=form.approval_reason.data or "",
            requester=approvals.Requester(ActorType.USER, current_user.id, current_user.permissions),
        )
    except KassaError as error:
        if error.keeps_effects or error.status >= 500:
            raise
        uow().rollback()
        flash(error.message, "error")
        return back
    if outcome.request is not None:
        flash(
            f"A refund of {money.format_amount(amount, payment.currency)} needs a second person's approval: "
            f"request {outcome.request.id} is pending.",
            "success",
        )
        return back
    assert outcome.result is not None
    made_amount, made_id = int(outcome.result["amount"]), outcome.result["refund"]
    flash(f"Refunded {money.format_amount(made_amount, payment.currency)} ({made_id}).", "success")
    return back


def capture(payment_id: str) -> Response:
    return _act(payment_id, "capture")


def cancel(payment_id: str) -> Response:
    return _act(payment_id, "cancel")


def _act(payment_id: str, what: str) -> Response:
    db = uow().session
    payment = _load(payment_id)
    back = redirect(url_for("portal.payment", payment_id=payment.id), code=303)
    if not ActionForm().validate_on_submit():
        flash("The form expired. Try again.", "error")
        return back
    processor = runtime().processor(payment.livemode)
    try:
        if what == "capture":
            ctx = user_context()
            done = service.capture(db, ctx, payment_id=payment.id, amount=None, processor=processor)
            flash(f"Captured {money.format_amount(done.amount_captured, done.currency)}.", "success")
        else:
            service.cancel(db, user_context(), payment_id=payment.id, processor=processor)
            flash("Payment canceled. The authorization is released.", "success")
    except KassaError as error:
        if error.keeps_effects or error.status >= 500:
            raise
        uow().rollback()
        flash(error.message, "error")
    return back


def resend_receipt(payment_id: str) -> Response:
    payment = _load(payment_id)
    back = redirect(url_for("portal.payment", payment_id=payment.id), code=303)
    form = ReceiptForm()
    if not form.validate_on_submit():
        _flash_errors(form)
        return back
    if payment.status not in (
        PaymentStatus.SUCCEEDED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    ):
        flash("A receipt is sent only for a payment that succeeded.", "error")
        return back
    cs = sessions.get(uow().session, session_id=payment.checkout_session_id)
    made = receipts.queue(
        uow().session,
        user_context(),
        payment=payment,
        email=(form.email.data or "").strip().lower(),
        locale=cs.locale or "en",
    )
    flash(f"Receipt queued to {form.email.data} ({made.id}).", "success")
    return back
