"""Reconciliation: the sandbox processor's daily settlement file, matched against the ledger.

The file is CSV with a header `date,type,reference,currency,amount`: one line per money movement the
processor settled that day (`capture` of a payment, `refund`, `dispute`, `dispute_reversal`, `payout`),
amounts in minor units as the processor sees them (captures positive, the rest negative). Matching is
by (type, reference): a line whose amount differs is an `amount_mismatch`, a line the ledger lacks is
`missing_in_ledger`, a ledger movement of that day the file lacks is `missing_in_file`.

Files come from two places: `kassa cron` takes the sandbox processor's file of the previous day (UTC) for
every tenant (`reconcile_processor_day`, core/payouts/jobs.py), and a member holding payouts:manage
uploads one in the portal (`read_upload` checks it first). A run with differences notifies the tenant's
members (`reconciliation_differences`, linking to the portal's Reconciliation page).
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import actions
from core.errors import InvalidInput
from core.ids import new_id
from core.ledger.models import Account, Entry, Journal
from core.ledger.service import (
    KIND_CAPTURE,
    KIND_DISPUTE,
    KIND_DISPUTE_REVERSAL,
    KIND_PAYOUT_PAID,
    KIND_REFUND,
)
from core.payouts.edge import Ctx, audit
from core.payouts.models import ReconciliationDifference, ReconciliationRun

HEADER: Final = ("date", "type", "reference", "currency", "amount")
#: The job that notifies the members of a run's differences (core/notifications/jobs.py).
NOTICE_JOB: Final = "core.notifications.jobs.notify_reconciliation_differences"
#: The largest settlement file the portal takes (a day's file is one short line per movement).
MAX_FILE_BYTES: Final = 512 * 1024
#: Ledger journal kind -> settlement file line type.
_KINDS: Final = {
    KIND_CAPTURE: "capture",
    KIND_REFUND: "refund",
    KIND_DISPUTE: "dispute",
    KIND_DISPUTE_REVERSAL: "dispute_reversal",
    KIND_PAYOUT_PAID: "payout",
}


def _ledger_lines(session: Session, *, tenant_id: str, day: date) -> dict[tuple[str, str], tuple[str, int]]:
    """(type, reference) -> (currency, the processor-receivable movement) for the day's journals."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    rows = session.execute(
        select(Journal.kind, Journal.reference_id, Entry.currency, Entry.amount)
        .join(Entry, (Entry.tenant_id == Journal.tenant_id) & (Entry.journal_id == Journal.id))
        .where(
            Journal.tenant_id == tenant_id,
            Journal.kind.in_(list(_KINDS)),
            Journal.created_at >= start,
            Journal.created_at < start + timedelta(days=1),
            Entry.account == Account.PROCESSOR_RECEIVABLE,
        )
    ).all()
    found: dict[tuple[str, str], tuple[str, int]] = {}
    for kind, reference, currency, amount in rows:
        key = (_KINDS[kind], reference)
        found[key] = (currency, found.get(key, (currency, 0))[1] + int(amount))
    return found


def sandbox_settlement_file(session: Session, *, tenant_id: str, day: date) -> str:
    """What the sandbox processor reports for `day`: exactly the ledger's view (a clean file)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for (kind, reference), (currency, amount) in sorted(
        _ledger_lines(session, tenant_id=tenant_id, day=day).items()
    ):
        writer.writerow((day.isoformat(), kind, reference, currency, amount))
    return out.getvalue()


def _parse(text: str, day: date) -> dict[tuple[str, str], tuple[str, int]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        raise InvalidInput(
            "The settlement file must start with the header " + ",".join(HEADER) + ".", param="file"
        )
    lines: dict[tuple[str, str], tuple[str, int]] = {}
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(HEADER):
            raise InvalidInput(f"Line {number} of the settlement file has {len(row)} fields.", param="file")
        line_day, kind, reference, currency, amount = (cell.strip() for cell in row)
        try:
            parsed = int(amount)
            when = date.fromisoformat(line_day)
        except ValueError:
            raise InvalidInput(f"Line {number} of the settlement file is malformed.", param="file") from None
        if when != day:
            raise InvalidInput(f"Line {number} is dated {line_day}, not {day.isoformat()}.", param="file")
        lines[(kind, reference)] = (currency, parsed)
    return lines


def reconcile(session: Session, ctx: Ctx, *, tenant_id: str, day: date, text: str) -> ReconciliationRun:
    """Match one settlement file; the same file twice returns the first run."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    existing = session.scalars(
        select(ReconciliationRun).where(
            ReconciliationRun.tenant_id == tenant_id,
            ReconciliationRun.file_date == day,
            ReconciliationRun.file_digest == digest,
        )
    ).first()
    if existing is not None:
        return existing
    in_file = _parse(text, day)
    in_ledger = _ledger_lines(session, tenant_id=tenant_id, day=day)
    run = ReconciliationRun(
        tenant_id=tenant_id,
        id=new_id("rcn"),
        file_date=day,
        file_digest=digest,
        lines=len(in_file),
        matched=0,
        differences=0,
        created_at=ctx.clock.now(),
    )
    session.add(run)
    session.flush()
    differences = []
    for key in sorted(set(in_file) | set(in_ledger)):
        kind, reference = key
        got, want = in_file.get(key), in_ledger.get(key)
        if got is not None and want is not None and got == want:
            run.matched += 1
            continue
        label = "amount_mismatch" if got and want else ("missing_in_ledger" if got else "missing_in_file")
        differences.append(
            ReconciliationDifference(
                tenant_id=tenant_id,
                id=new_id("rcd"),
                run_id=run.id,
                kind=label,
                reference_id=reference,
                currency=(got or want or ("", 0))[0],
                file_amount=got[1] if got else None,
                ledger_amount=want[1] if want else None,
                details={"type": kind},
            )
        )
    session.add_all(differences)
    run.differences = len(differences)
    session.flush()
    audit(
        session,
        ctx,
        actions.RECONCILIATION_RUN,
        subject=run,
        details={"date": day.isoformat(), "lines": run.lines, "differences": run.differences},
    )
    return run


def differences_of(session: Session, *, tenant_id: str, run_id: str) -> list[ReconciliationDifference]:
    return list(
        session.scalars(
            select(ReconciliationDifference)
            .where(ReconciliationDifference.tenant_id == tenant_id, ReconciliationDifference.run_id == run_id)
            .order_by(ReconciliationDifference.id)
        )
    )


def latest_runs(session: Session, *, tenant_id: str, limit: int = 30) -> list[ReconciliationRun]:
    return list(
        session.scalars(
            select(ReconciliationRun)
            .where(ReconciliationRun.tenant_id == tenant_id)
            .order_by(ReconciliationRun.created_at.desc(), ReconciliationRun.id.desc())
            .limit(limit)
        )
    )


def read_upload(data: bytes, *, day: date | None) -> tuple[date, str]:
    """An uploaded settlement file, checked before matching: size, UTF-8 text, the header, and its day
    (the one given, or the date of its lines). Every refusal is an `InvalidInput` naming the problem."""
    if not data:
        raise InvalidInput("Choose a settlement file to upload.", param="file")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(
            f"The settlement file is larger than {MAX_FILE_BYTES // 1024} KB: upload one day's file.",
            param="file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The settlement file must be CSV text (UTF-8).", param="file") from None
    if "\x00" in text:
        raise InvalidInput("The settlement file must be CSV text, not a binary file.", param="file")
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows or tuple(h.strip() for h in rows[0]) != HEADER:
        raise InvalidInput(
            "The settlement file must start with the header " + ",".join(HEADER) + ".", param="file"
        )
    if day is None:
        if len(rows) < 2:
            raise InvalidInput("The file has no lines: give the settlement date it is for.", param="day")
        try:
            day = date.fromisoformat(rows[1][0].strip())
        except ValueError:
            raise InvalidInput("Line 2 of the settlement file is malformed.", param="file") from None
    _parse(text, day)  # every line well-formed and of that day, before anything is stored
    return day, text


def flag(session: Session, ctx: Ctx, run: ReconciliationRun) -> None:
    """Have the tenant's members told of a run's differences: the notification job (named, written to the
    outbox of this transaction: notifications sit above payouts) makes one notification per run."""
    if run.differences:
        ctx.jobs.enqueue(
            NOTICE_JOB, tenant_id=run.tenant_id, kwargs={"tenant_id": run.tenant_id, "run_id": run.id}
        )


def settlement_file(session: Session, *, tenant_id: str, day: date) -> str:
    """The processor's settlement file of `day`: the sandbox processor's (no live processor is built)."""
    return sandbox_settlement_file(session, tenant_id=tenant_id, day=day)


def reconcile_processor_day(session: Session, ctx: Ctx, *, tenant_id: str, day: date) -> ReconciliationRun:
    """Fetch the processor's file of `day`, match it, flag its differences. Safe to run again: the same
    file gives the same run, and its notification is made once."""
    text = settlement_file(session, tenant_id=tenant_id, day=day)
    run = reconcile(session, ctx, tenant_id=tenant_id, day=day, text=text)
    flag(session, ctx, run)
    return run
