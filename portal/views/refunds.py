"""Refunds and checkout sessions: their lists (the portal session's mode, newest first, cursor pages) and
one of each. Read-only screens; a refund is made from its payment's page (portal/views/payments.py)."""

from __future__ import annotations

from flask import request

from core.errors import InvalidInput
from core.payments import queries, service, sessions
from core.payments.models import CheckoutSession, SessionStatus
from core.web.htmx import render_page_or_block
from core.web.request import uow
from portal import mode
from portal.views.payments import OtherMode

PAGE_SIZE = 25


def _cursors() -> dict[str, str | None]:
    return {
        "starting_after": request.args.get("after") or None,
        "ending_before": request.args.get("before") or None,
    }


def _newer(items: list[object], has_more: bool) -> str | None:
    if not items:
        return None
    if request.args.get("after") or (request.args.get("before") and has_more):
        return str(items[0].id)
    return None


def refund_list() -> str:
    page = queries.list_refunds(uow().session, livemode=mode.livemode(), limit=PAGE_SIZE, **_cursors())
    items = list(page.items)
    return render_page_or_block(
        "portal/refunds/list.html",
        block="rows",
        refunds=items,
        next_after=page.next_cursor,
        prev_before=_newer(items, page.has_more),  # type: ignore[arg-type]
    )


def refund_detail(refund_id: str) -> str:
    db = uow().session
    made = service.get_refund(db, refund_id=refund_id)
    payment = service.get(db, payment_id=made.payment_id)
    if payment.livemode != mode.livemode():
        raise OtherMode(f"This refund is of a {'live' if payment.livemode else 'test'}-mode payment.")
    return render_page_or_block(
        "portal/refunds/detail.html",
        refund=made,
        payment=payment,
        events=queries.events_of(db, object_id=made.id),
    )


def session_list() -> str:
    status = request.args.get("status") or None
    if status is not None and status not in set(SessionStatus):
        raise InvalidInput("Unknown status filter.", param="status")
    page = queries.list_checkout_sessions(
        uow().session, livemode=mode.livemode(), limit=PAGE_SIZE, status=status, **_cursors()
    )
    items: list[CheckoutSession] = list(page.items)
    return render_page_or_block(
        "portal/checkout_sessions/list.html",
        block="rows",
        checkout_sessions=items,
        status=status,
        statuses=[s.value for s in SessionStatus],
        next_after=page.next_cursor,
        prev_before=_newer(items, page.has_more),  # type: ignore[arg-type]
    )


def session_detail(session_id: str) -> str:
    db = uow().session
    cs = sessions.get(db, session_id=session_id)
    if cs.livemode != mode.livemode():
        raise OtherMode(f"This checkout session is a {'live' if cs.livemode else 'test'}-mode one.")
    payments = queries.list_payments(db, livemode=cs.livemode, checkout_session=cs.id, limit=20).items
    return render_page_or_block(
        "portal/checkout_sessions/detail.html",
        cs=cs,
        payments=payments,
        events=queries.events_of(db, object_id=cs.id),
    )
