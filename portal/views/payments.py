"""Portal payments: the list (filter by status, newest first, cursor pages), one payment, and its refund
(for roles holding payments:refund: portal/views/blueprint.py checks it before `refund` runs)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from core import money
from core.context import ActorType
from core.errors import InvalidInput, KassaError
from core.payments import queries, service
from core.payments.models import PaymentStatus
from core.web.htmx import render_page_or_block
from core.web.request import uow
from portal.views.forms import AMOUNT_HINT, RefundForm
from portal.views.session import user_context
from tenants import approvals

PAGE_SIZE = 25


#: The portal has no test/live switch yet (issue 13 adds it): it shows test mode, the only mode in which
#: money moves today (no live processor exists). Until then live-mode objects are not listed here.
PORTAL_LIVEMODE = False


def payment_list() -> str:
    status = request.args.get("status") or None
    if status is not None and status not in set(PaymentStatus):
        raise InvalidInput("Unknown status filter.", param="status")
    page = queries.list_payments(
        uow().session,
        livemode=PORTAL_LIVEMODE,
        limit=PAGE_SIZE,
        starting_after=request.args.get("after") or None,
        status=status,
    )
    return render_page_or_block(
        "portal/payments/list.html",
        block="rows",
        payments=page.items,
        status=status,
        statuses=[s.value for s in PaymentStatus],
        next_after=page.next_cursor,
    )


def payment_detail(payment_id: str) -> str:
    db = uow().session
    payment = service.get(db, payment_id=payment_id)
    history = queries.status_history(db, payment_id=payment.id)
    refunds = queries.refunds_of(db, payment_id=payment.id)
    events = queries.events_of(db, object_id=payment.id)
    return render_page_or_block(
        "portal/payments/detail.html",
        payment=payment,
        history=history,
        refunds=refunds,
        events=events,
        refund_form=RefundForm() if current_user.can("payments:refund") else None,
    )


def _refund_amount(text: str, currency: str) -> int | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        return money.from_decimal(Decimal(text), currency)
    except InvalidOperation:
        raise InvalidInput(AMOUNT_HINT, param="amount") from None


def refund(payment_id: str) -> Response:
    db = uow().session
    payment = service.get(db, payment_id=payment_id)  # another tenant's payment: 404
    form = RefundForm()
    back = redirect(url_for("portal.payment", payment_id=payment.id), code=303)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return back
    try:
        amount = _refund_amount(form.amount.data or "", payment.currency)
        if amount is None:
            amount = payment.amount_captured - payment.amount_refunded
        # A refund above the tenant's four-eyes amount is held for a second person (tenants/approvals.py);
        # otherwise it is carried out now, by the same executor an approval runs.
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
