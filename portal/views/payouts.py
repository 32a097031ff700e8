"""Portal money screens: the balance (with a manual payout), payouts and their transactions (CSV too),
payout settings (schedule, bank account), disputes with the evidence form, reconciliation results.
Views are thin: validate the form, call one core operation, render."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from core import money
from core.context import ActorType
from core.disputes import queries as dispute_queries
from core.disputes import service as disputes
from core.errors import InvalidInput, KassaError
from core.ledger import service as ledger
from core.payouts import bank_accounts, queries, reconciliation, reserves
from core.payouts import service as payouts
from core.web.htmx import render_page_or_block
from core.web.request import runtime, uow
from portal import mode
from portal.views.forms import BankAccountForm, EvidenceForm, PayoutForm, ScheduleForm, SettlementFileForm
from portal.views.session import user_context
from tenants import approvals, bank_account_changes
from tenants.models import ApprovalStatus, Tenant

PAGE_SIZE = 25


def _tenant() -> str:
    return str(current_user.tenant_id)


def _minor(text: str, currency: str, param: str) -> int | None:
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return money.from_decimal(Decimal(text), currency)
    except InvalidOperation:
        raise InvalidInput("Enter an amount like 10.50.", param=param) from None


def _flash_form_errors(form: object) -> None:
    for errors in getattr(form, "errors", {}).values():
        for error in errors:
            flash(str(error), "error")


def _attempt(back: Response, action: object) -> Response:
    """Run `action`; a domain error becomes a flash message and nothing is written."""
    try:
        message = action()  # type: ignore[operator]
    except KassaError as error:
        if error.keeps_effects or error.status >= 500:
            raise
        uow().rollback()
        flash(error.message, "error")
        return back
    flash(str(message), "success")
    return back


def bars(values: dict[str, int]) -> list[dict[str, object]]:
    """Horizontal bar geometry for the server-rendered SVG: widths proportional to the largest |value|."""
    top = max((abs(v) for v in values.values()), default=0) or 1
    return [
        {"label": label, "value": value, "width": round(280 * abs(value) / top), "negative": value < 0}
        for label, value in values.items()
    ]


# --- balance --------------------------------------------------------------------------------------


def balance() -> str:
    db = uow().session
    owed = ledger.balances(db, tenant_id=_tenant()).as_dict()
    currencies = sorted({str(b["currency"]) for rows in owed.values() for b in rows})
    table = {
        c: {kind: sum(int(b["amount"]) for b in rows if b["currency"] == c) for kind, rows in owed.items()}
        for c in currencies
    }
    return render_page_or_block(
        "portal/payouts/balance.html",
        table=table,
        charts={c: bars(v) for c, v in table.items()},
        terms=ledger.settlement_terms(db, tenant_id=_tenant()),
        held=reserves.reserve_schedule(db, tenant_id=_tenant()),
        form=PayoutForm() if current_user.can("payouts:manage") else None,
    )


def create_payout() -> Response:
    form = PayoutForm()
    back = redirect(url_for("portal.balance"), code=303)
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return back
    currency = (form.currency.data or "").strip().upper()

    def act() -> str:
        made = payouts.create_payout(
            uow().session,
            user_context(),
            tenant_id=_tenant(),
            currency=currency,
            amount=_minor(form.amount.data or "", currency, "amount"),
            created_by=current_user.id,
        )
        assert made is not None
        return f"Payout {made.id} of {money.format_amount(made.amount, made.currency)} created."

    return _attempt(back, act)


# --- payouts --------------------------------------------------------------------------------------


def payout_list() -> str:
    page = queries.list_payouts(
        uow().session,
        livemode=mode.livemode(),
        limit=PAGE_SIZE,
        starting_after=request.args.get("after") or None,
    )
    return render_page_or_block(
        "portal/payouts/list.html", block="rows", payouts=page.items, next_after=page.next_cursor
    )


def payout_detail(payout_id: str) -> str:
    db = uow().session
    payout = payouts.get(db, tenant_id=_tenant(), payout_id=payout_id)
    lines = payouts.transactions_of(db, tenant_id=_tenant(), payout_id=payout.id)
    total = sum(line.net for line in lines)
    return render_page_or_block(
        "portal/payouts/detail.html",
        payout=payout,
        lines=lines,
        total=total,
        chart=bars({"Payout amount": payout.amount, "Sum of its transactions": total}),
    )


def payout_csv(payout_id: str) -> Response:
    db = uow().session
    payout = payouts.get(db, tenant_id=_tenant(), payout_id=payout_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ("id", "type", "source", "amount", "fee", "net", "currency", "available_on", "created_at")
    )
    for line in payouts.transactions_of(db, tenant_id=_tenant(), payout_id=payout.id):
        writer.writerow(
            (
                line.id,
                line.type,
                line.source_id,
                line.amount,
                line.fee,
                line.net,
                line.currency,
                line.available_on.isoformat(),
                line.created_at.isoformat(),
            )
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{payout.id}.csv"'},
    )


# --- settings -------------------------------------------------------------------------------------


def settings() -> str:
    db = uow().session
    manage = current_user.can("payouts:manage")
    tenant = _tenant()
    tenant_row = db.get(Tenant, tenant)
    default_currency = str(getattr(tenant_row, "default_currency", None) or "EUR")
    schedule = payouts.schedule_for(db, tenant_id=tenant, currency=default_currency)
    schedule_form = (
        ScheduleForm(
            currency=default_currency,
            interval=str(schedule.interval),
            weekly_anchor=str(schedule.weekly_anchor or 0),
            monthly_anchor=str(schedule.monthly_anchor or 1),
            minimum=str(money.to_decimal(schedule.minimum_amount, default_currency)),
        )
        if manage
        else None
    )
    terms = ledger.settlement_terms(db, tenant_id=tenant)
    held = reserves.reserve_schedule(db, tenant_id=tenant)
    return render_page_or_block(
        "portal/payouts/settings.html",
        schedule=schedule,
        accounts=bank_accounts.list_accounts(db, tenant_id=tenant),
        mask=bank_accounts.mask,
        terms=terms,
        release_on=runtime().clock.now().date() + timedelta(days=terms.reserve_days),
        next_release=held[0] if held else None,
        # Held bank account changes, by the account they propose: the row links to its request.
        pending={
            str(r.params.get("bank_account_id")): r.id
            for r in approvals.list_requests(db, status=ApprovalStatus.PENDING)
            if r.kind == approvals.BANK_ACCOUNT
        },
        bank_held=approvals.required(db, kind_name=approvals.BANK_ACCOUNT, params={}),
        schedule_form=schedule_form,
        bank_form=BankAccountForm(currency=default_currency) if manage else None,
    )


def save_schedule() -> Response:
    form = ScheduleForm()
    back = redirect(url_for("portal.payout_settings"), code=303)
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return back
    currency = (form.currency.data or "").strip().upper()

    def act() -> str:
        payouts.set_schedule(
            uow().session,
            user_context(),
            tenant_id=_tenant(),
            currency=currency,
            interval=form.interval.data or "",
            weekly_anchor=int(form.weekly_anchor.data or 0),
            monthly_anchor=int((form.monthly_anchor.data or "1").strip()),
            minimum_amount=_minor(form.minimum.data or "", currency, "minimum_amount") or 0,
        )
        return f"The {currency} payout schedule is saved."

    return _attempt(back, act)


def save_bank_account() -> Response:
    form = BankAccountForm()
    back = redirect(url_for("portal.payout_settings"), code=303)
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return back

    def act() -> str:
        details = bank_accounts.validate(
            country=form.country.data or "",
            iban=(form.iban.data or "").strip() or None,
            account_number=form.account_number.data,
            routing_number=form.routing_number.data,
        )
        # Four-eyes: held for a second person when the tenant's policy says so (tenants/approvals.py).
        change = bank_account_changes.change_bank_account(
            uow().session,
            user_context(),
            requester=approvals.Requester(ActorType.USER, current_user.id, current_user.permissions),
            tenant_id=_tenant(),
            currency=form.currency.data or "",
            account_holder=form.account_holder.data or "",
            details=details,
            reason=form.reason.data or "",
        )
        masked = bank_accounts.mask(change.account.last4)
        if change.request is not None:
            return (
                f"Bank account {masked} needs a second person's approval: request {change.request.id} is "
                "pending; payouts keep going to the current account. The owners were told."
            )
        return f"Bank account {masked} saved; the owners were told."

    return _attempt(back, act)


# --- disputes -------------------------------------------------------------------------------------


def dispute_list() -> str:
    page = dispute_queries.list_disputes(
        uow().session,
        livemode=mode.livemode(),
        limit=PAGE_SIZE,
        starting_after=request.args.get("after") or None,
    )
    return render_page_or_block(
        "portal/disputes/list.html",
        block="rows",
        disputes=page.items,
        next_after=page.next_cursor,
        now=runtime().clock.now(),
    )


def dispute_detail(dispute_id: str) -> str:
    db = uow().session
    dispute = disputes.get(db, tenant_id=_tenant(), dispute_id=dispute_id)
    now = runtime().clock.now()
    left = dispute.evidence_due_by - now
    return render_page_or_block(
        "portal/disputes/detail.html",
        dispute=dispute,
        files=disputes.files_of(db, tenant_id=_tenant(), dispute_id=dispute.id),
        days_left=max(left.days, 0),
        hours_left=max(int(left.total_seconds() // 3600) % 24, 0) if left.total_seconds() > 0 else 0,
        overdue=left.total_seconds() <= 0,
        form=EvidenceForm()
        if current_user.can("payments:refund") and dispute.status == "needs_response"
        else None,
        chart=bars({"Disputed": -dispute.amount, "Dispute fee": -dispute.fee}),
    )


def submit_evidence(dispute_id: str) -> Response:
    db = uow().session
    dispute = disputes.get(db, tenant_id=_tenant(), dispute_id=dispute_id)
    form = EvidenceForm()
    back = redirect(url_for("portal.dispute", dispute_id=dispute.id), code=303)
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return back
    uploads = [
        (f.filename or "evidence", f.read(disputes.MAX_FILE_BYTES + 1))
        for f in request.files.getlist(form.files.name)
        if f and f.filename
    ]
    fields = {name: getattr(form, name).data for name in disputes.EVIDENCE_FIELDS}

    def act() -> str:
        disputes.submit_evidence(
            db, user_context(), tenant_id=_tenant(), dispute_id=dispute.id, fields=fields, files=uploads
        )
        return "Evidence submitted: the dispute is under review."

    return _attempt(back, act)


# --- reconciliation -------------------------------------------------------------------------------


def reconciliation_results() -> str:
    db = uow().session
    runs = reconciliation.latest_runs(db, tenant_id=_tenant())
    return render_page_or_block(
        "portal/payouts/reconciliation.html",
        runs=[(run, reconciliation.differences_of(db, tenant_id=_tenant(), run_id=run.id)) for run in runs],
        form=SettlementFileForm() if current_user.can("payouts:manage") else None,
        max_kb=reconciliation.MAX_FILE_BYTES // 1024,
    )


def upload_settlement_file() -> Response:
    """Match an uploaded settlement file (CSV) against the ledger; its differences show on the page."""
    form = SettlementFileForm()
    back = redirect(url_for("portal.reconciliation"), code=303)
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return back
    upload = request.files.get(form.file.name)
    data = b""
    if upload is not None:
        try:
            # One byte past the limit is enough to refuse it, without reading a huge body into memory.
            data = upload.read(reconciliation.MAX_FILE_BYTES + 1) if upload.filename else b""
        finally:
            upload.close()  # a large upload is spooled to a temporary file: closed now, not by the GC

    def act() -> str:
        day, text = reconciliation.read_upload(data, day=form.day.data)
        db, ctx = uow().session, user_context()
        run = reconciliation.reconcile(db, ctx, tenant_id=_tenant(), day=day, text=text)
        reconciliation.flag(db, ctx, run)
        lines, many = ("" if run.lines == 1 else "s"), ("" if run.differences == 1 else "s")
        return (
            f"Settlement file of {day.isoformat()}: {run.lines} line{lines}, {run.matched} matched, "
            f"{run.differences} difference{many}."
        )

    return _attempt(back, act)
