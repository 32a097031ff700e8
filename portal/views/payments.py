"""Portal payments: the list (filter by status, newest first, cursor pages) and one payment."""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from core import money
from core.errors import InvalidInput
from core.payments import service
from core.payments.models import Event, Payment, PaymentStatus, PaymentStatusChange, Refund
from core.web.htmx import render_page_or_block
from core.web.request import uow

PAGE_SIZE = 25


def payment_list() -> str:
    status = request.args.get("status") or None
    if status is not None and status not in set(PaymentStatus):
        raise InvalidInput("Unknown status filter.", param="status")
    after = request.args.get("after") or None
    query = select(Payment).order_by(Payment.id.desc()).limit(PAGE_SIZE + 1)
    if status:
        query = query.where(Payment.status == status)
    if after:
        query = query.where(Payment.id < after)
    rows = list(uow().session.scalars(query))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_page_or_block(
        "portal/payments/list.html",
        block="rows",
        payments=rows,
        status=status,
        statuses=[s.value for s in PaymentStatus],
        next_after=rows[-1].id if more and rows else None,
        fmt=money.format_amount,
    )


def payment_detail(payment_id: str) -> str:
    db = uow().session
    payment = service.get(db, payment_id=payment_id)
    history = db.scalars(
        select(PaymentStatusChange)
        .where(PaymentStatusChange.payment_id == payment.id)
        .order_by(PaymentStatusChange.id)
    ).all()
    refunds = db.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.id)).all()
    events = db.scalars(select(Event).where(Event.object_id == payment.id).order_by(Event.sequence)).all()
    return render_page_or_block(
        "portal/payments/detail.html",
        payment=payment,
        history=history,
        refunds=refunds,
        events=events,
        fmt=money.format_amount,
    )
