"""Reading the audit trail: the filtered, cursor-paged list (portal audit screen), the CSV export's stream,
and the chain's verification record (who checked it, when, with what result).

All of it runs in the caller's tenant unit of work: the ORM scoping and row-level security keep another
tenant's events out, so an id of theirs is simply not found.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.audit.models import AuditEvent, AuditVerification, Outcome
from core.context import Acting
from core.db import get_by_id
from core.errors import InvalidInput
from core.ids import new_id
from core.pagination import Page, paginate

#: Every action constant of core/audit/actions.py, sorted: the audit screen's action filter.
ALL_ACTIONS: Final = tuple(
    sorted(value for name, value in vars(actions).items() if name.isupper() and isinstance(value, str))
)
#: Rows the CSV export reads per query (keyset by id: memory stays flat however long the trail is).
EXPORT_BATCH: Final = 500
#: A CSV cell starting with one of these is a formula to a spreadsheet: it is prefixed with `'`.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS: Final = (
    "occurred_at",
    "seq",
    "id",
    "actor_type",
    "actor_id",
    "action",
    "subject_type",
    "subject_id",
    "outcome",
    "origin_ip",
    "user_agent",
    "request_id",
)


@dataclass(frozen=True)
class AuditFilter:
    """What the audit screen narrows the trail to; every field optional. Dates are UTC days, inclusive."""

    actor_id: str | None = None
    action: str | None = None
    subject_id: str | None = None
    since: date | None = None
    until: date | None = None

    @classmethod
    def parse(
        cls,
        *,
        actor_id: str | None = None,
        action: str | None = None,
        subject_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> AuditFilter:
        """From query parameters: blanks are no filter; a malformed value is `InvalidInput` naming it."""

        def text(value: str | None, param: str, limit: int = 64) -> str | None:
            value = (value or "").strip()
            if not value:
                return None
            if len(value) > limit:
                raise InvalidInput(f"At most {limit} characters.", param=param)
            return value

        def day(value: str | None, param: str) -> date | None:
            value = (value or "").strip()
            if not value:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise InvalidInput("Enter a date like 2026-12-01.", param=param) from None

        chosen = text(action, "action", 80)
        if chosen is not None and chosen not in ALL_ACTIONS:
            raise InvalidInput("Choose an action from the list.", param="action")
        parsed = cls(
            actor_id=text(actor_id, "actor"),
            action=chosen,
            subject_id=text(subject_id, "subject"),
            since=day(since, "since"),
            until=day(until, "until"),
        )
        if parsed.since and parsed.until and parsed.since > parsed.until:
            raise InvalidInput("The start date is after the end date.", param="since")
        return parsed

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.actor_id:
            query = query.where(AuditEvent.actor_id == self.actor_id)
        if self.action:
            query = query.where(AuditEvent.action == self.action)
        if self.subject_id:
            query = query.where(AuditEvent.subject_id == self.subject_id)
        if self.since:
            query = query.where(AuditEvent.occurred_at >= _start_of(self.since))
        if self.until:
            query = query.where(AuditEvent.occurred_at < _start_of(self.until + timedelta(days=1)))
        return query

    def as_params(self) -> dict[str, str]:
        """The filter as the screen's query parameters (for pager and export links)."""
        params = {
            "actor": self.actor_id or "",
            "action": self.action or "",
            "subject": self.subject_id or "",
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in params.items() if v}


def _start_of(day: date) -> datetime:
    from datetime import UTC

    return datetime.combine(day, time.min, tzinfo=UTC)


def list_events(
    session: Session, *, filters: AuditFilter, limit: int, starting_after: str | None = None
) -> Page[AuditEvent]:
    """The tenant's events matching `filters`, newest first, one page."""
    if starting_after is not None and not starting_after.startswith("aud_"):
        raise InvalidInput("Unknown page cursor.", param="after")
    return paginate(
        session,
        filters.apply(select(AuditEvent)),
        id_column=AuditEvent.id,
        limit=limit,
        starting_after=starting_after,
    )


def get_event(session: Session, *, event_id: str) -> AuditEvent:
    """One event of the tenant; NotFound for another tenant's id, an unknown or a malformed one."""
    return get_by_id(session, AuditEvent, event_id, prefix="aud", what="audit event")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(session: Session, *, filters: AuditFilter) -> Iterator[str]:
    """The matching events as CSV text, header first, newest first, in batches (for a streamed answer)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        out = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return out

    writer.writerow(CSV_COLUMNS)
    yield flush()
    after: str | None = None
    while True:
        query = filters.apply(select(AuditEvent))
        if after is not None:
            query = query.where(AuditEvent.id < after)
        batch = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(EXPORT_BATCH)))
        for event in batch:
            writer.writerow(
                [
                    _cell(event.occurred_at.isoformat()),
                    _cell(event.seq),
                    _cell(event.id),
                    _cell(event.actor_type),
                    _cell(event.actor_id),
                    _cell(event.action),
                    _cell(event.subject_type),
                    _cell(event.subject_id),
                    _cell(event.outcome),
                    _cell(event.origin_ip),
                    _cell(event.user_agent),
                    _cell(event.request_id),
                ]
            )
        if batch:
            yield flush()
        if len(batch) < EXPORT_BATCH:
            return
        after = batch[-1].id


def last_verification(session: Session) -> AuditVerification | None:
    """The newest check of the tenant's chain, or None if it was never checked."""
    return session.scalar(select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1))


def verify_and_record(
    session: Session, ctx: Acting, *, tenant_id: str
) -> tuple[AuditVerification, list[str]]:
    """Check the tenant's chain now (core.audit.service.verify), keep who checked it and what it found,
    and audit the check itself (outcome failure when the chain is broken). Returns the record and the
    descriptions of the breaks."""
    problems = audit.verify(session, tenant_id=tenant_id, kms=ctx.kms)
    head = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    record = AuditVerification(
        tenant_id=tenant_id,
        id=new_id("aver"),
        verified_at=ctx.clock.now(),
        actor_type=ctx.actor.type,
        actor_id=ctx.actor.id,
        ok=not problems,
        problems=len(problems),
        seq=head,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        ctx,
        actions.AUDIT_CHAIN_VERIFIED,
        subject=audit.Ref("audit_chain", tenant_id, tenant_id),
        outcome=Outcome.SUCCESS if not problems else Outcome.FAILURE,
        details={"verification": record.id, "through_seq": head, "problems": problems[:20]},
    )
    return record, problems
