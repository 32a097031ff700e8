"""Alerts from the payments tables: approval rate low, risk blocks spiking, processor errors spiking.

Each check compares a recent window (`window`, 15 minutes by default) with the baseline before it
(`baseline`, the 24 hours before the window), per mode (test and live apart), over the payments created
in those periods:

- **approval rate**: approved (succeeded, authorized, refunded, partially refunded, canceled after
  authorization) over approved plus declined, risk blocks left out (they have an alert of their own). It
  alerts below `approval_rate_min` once at least `approval_min_attempts` payments were decided in the
  window.
- **risk blocks** (`failure_code = risk_blocked`) and **processor errors** (a payment that met at least
  one processor error, retried or not, or failed with `processor_error`/`processor_unavailable`): a spike
  is at least `spike_min_count` in the window and at least `spike_factor` times what the baseline's rate
  predicts for a window (a baseline of nothing predicts one).

One alert per kind and mode per `cooldown`: a condition that lasts does not notify every run. The cron
entry (jobs.py) runs the checks for every tenant every five minutes. Thresholds: docs/operations.md,
"Alerts and notifications"; `KASSA_ALERT_*` environment variables set the defaults (`Thresholds.from_env`),
and a tenant may set its own (`set_thresholds`, on the portal's notification preferences page, with
`settings:write`): each field it leaves empty falls back to the default (`effective`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.context import Context
from core.errors import InvalidInput
from core.ids import new_id
from core.notifications import service
from core.notifications.kinds import Kind
from core.notifications.models import AlertThresholdSettings, Notification
from core.payments.models import Payment, PaymentStatus

APPROVED: Final = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.AUTHORIZED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.CANCELED,
)
RISK_BLOCKED: Final = "risk_blocked"
PROCESSOR_FAILURES: Final = ("processor_error", "processor_unavailable")


@dataclass(frozen=True)
class Thresholds:
    """What counts as an alert. Each field has a `KASSA_ALERT_<FIELD>` environment variable."""

    #: The recent window each check looks at, in minutes.
    window_minutes: int = 15
    #: The baseline before the window, in hours.
    baseline_hours: int = 24
    #: Below this share of approved decided payments, the approval-rate alert fires.
    approval_rate_min: float = 0.6
    #: ... but only with at least this many decided payments in the window (a few declines are not news).
    approval_min_attempts: int = 10
    #: A spike is at least this many times the baseline's rate ...
    spike_factor: float = 3.0
    #: ... and at least this many in the window.
    spike_min_count: int = 5
    #: At most one alert of a kind and mode per this many minutes.
    cooldown_minutes: int = 60

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Thresholds:
        chosen: dict[str, float | int] = {}
        for field in fields(cls):
            name = f"KASSA_ALERT_{field.name.upper()}"
            raw = environ.get(name, "").strip()
            if not raw:
                continue
            try:
                value: float | int = float(raw) if field.type == "float" else int(raw)
            except ValueError:
                raise InvalidInput(f"{name} must be a number; got {raw!r}.") from None
            if value < 0 or (field.name == "approval_rate_min" and value > 1):
                raise InvalidInput(f"{name} is out of range: {raw}.")
            chosen[field.name] = value
        return replace(cls(), **chosen)  # type: ignore[arg-type]

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    @property
    def baseline(self) -> timedelta:
        return timedelta(hours=self.baseline_hours)


@dataclass(frozen=True)
class Field:
    """One threshold as a tenant sets it: its label on the settings form and the values it may take."""

    name: str
    label: str
    kind: type[int] | type[float]
    minimum: float
    maximum: float


#: The thresholds a tenant may set, in the form's order, with their bounds.
FIELDS: Final = (
    Field("approval_rate_min", "Alert when the approval rate is below (0 to 1)", float, 0.0, 1.0),
    Field("approval_min_attempts", "... with at least this many decided payments", int, 1, 100_000),
    Field("spike_factor", "A spike is this many times the baseline rate", float, 1.0, 1000.0),
    Field("spike_min_count", "... and at least this many in the window", int, 1, 100_000),
    Field("window_minutes", "Recent window (minutes)", int, 1, 1440),
    Field("baseline_hours", "Baseline before the window (hours)", int, 1, 720),
    Field("cooldown_minutes", "At most one alert of a kind every (minutes)", int, 1, 10_080),
)


def _parse(field: Field, raw: str) -> float | int:
    text = raw.strip().replace(",", ".") if field.kind is float else raw.strip()
    try:
        value: float | int = field.kind(text)
    except ValueError:
        whole = "a whole number" if field.kind is int else "a number"
        raise InvalidInput(f"{field.label}: enter {whole}, or leave it empty.", param=field.name) from None
    if not field.minimum <= value <= field.maximum:
        raise InvalidInput(
            f"{field.label}: must be between {field.kind(field.minimum)} and {field.kind(field.maximum)}.",
            param=field.name,
        )
    return value


def _stored(session: Session) -> AlertThresholdSettings | None:
    return session.scalar(select(AlertThresholdSettings))


def tenant_values(session: Session) -> dict[str, float | int]:
    """The thresholds the session's tenant set itself (field name -> value); the rest are defaults."""
    row = _stored(session)
    known = {f.name for f in FIELDS}
    return {k: v for k, v in (row.values if row is not None else {}).items() if k in known}


def effective(session: Session, *, defaults: Thresholds) -> Thresholds:
    """The session's tenant's thresholds: its own where it set them, `defaults` (KASSA_ALERT_*) elsewhere."""
    return replace(defaults, **tenant_values(session))  # type: ignore[arg-type]


def set_thresholds(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    values: Mapping[str, str],
    updated_by: str | None,
    defaults: Thresholds,
) -> Thresholds:
    """Store the tenant's thresholds from the form (`field name -> text`; empty: the default). Every value
    is checked before anything is stored; the change is audited. Answers the thresholds now in force."""
    chosen: dict[str, float | int] = {}
    for field in FIELDS:
        raw = values.get(field.name, "")
        if raw.strip():
            chosen[field.name] = _parse(field, raw)
    row = _stored(session)
    before = tenant_values(session)
    if chosen == before:
        return effective(session, defaults=defaults)
    now = ctx.clock.now()
    if row is None:
        row = AlertThresholdSettings(tenant_id=tenant_id, id=new_id("alth"), values={}, updated_at=now)
        session.add(row)
    row.values, row.updated_by, row.updated_at = chosen, updated_by, now
    session.flush()
    changed = {
        name: {"from": before.get(name), "to": chosen.get(name)}
        for name in sorted(set(before) | set(chosen))
        if before.get(name) != chosen.get(name)
    }
    audit.record(session, ctx, actions.ALERT_THRESHOLDS_UPDATED, subject=row, details={"changed": changed})
    return effective(session, defaults=defaults)


@dataclass(frozen=True)
class Counts:
    decided: int = 0
    approved: int = 0
    risk_blocked: int = 0
    processor_errors: int = 0

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.decided if self.decided else None


@dataclass(frozen=True)
class Finding:
    kind: Kind
    livemode: bool
    title: str
    body: str
    data: dict[str, float | int | str | None]


def _counts(session: Session, *, livemode: bool, start: datetime, end: datetime) -> Counts:
    risk = Payment.failure_code == RISK_BLOCKED
    declined = (
        (Payment.status == PaymentStatus.FAILED) & ~risk & Payment.failure_code.not_in(PROCESSOR_FAILURES)
    )
    approved = Payment.status.in_(APPROVED)
    processor = or_(Payment.processor_attempts > 0, Payment.failure_code.in_(PROCESSOR_FAILURES))
    row = session.execute(
        select(
            func.count(case((approved | declined, 1))),
            func.count(case((approved, 1))),
            func.count(case((risk, 1))),
            func.count(case((processor, 1))),
        ).where(Payment.livemode == livemode, Payment.created_at > start, Payment.created_at <= end)
    ).one()
    return Counts(decided=row[0], approved=row[1], risk_blocked=row[2], processor_errors=row[3])


def _spike(recent: int, baseline: int, thresholds: Thresholds) -> tuple[bool, float]:
    """(is a spike, what the baseline predicts for one window)."""
    expected = baseline * (thresholds.window / thresholds.baseline)
    return recent >= thresholds.spike_min_count and recent >= thresholds.spike_factor * max(
        expected, 1.0
    ), expected


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.0%}"


def findings(session: Session, *, now: datetime, livemode: bool, thresholds: Thresholds) -> list[Finding]:
    """What the current tenant's payments say now, in one mode (no notification is written)."""
    start = now - thresholds.window
    recent = _counts(session, livemode=livemode, start=start, end=now)
    before = _counts(session, livemode=livemode, start=start - thresholds.baseline, end=start)
    mode = "live" if livemode else "test"
    window = f"the last {thresholds.window_minutes} minutes"
    found: list[Finding] = []
    rate = recent.approval_rate
    if (
        rate is not None
        and recent.decided >= thresholds.approval_min_attempts
        and rate < thresholds.approval_rate_min
    ):
        found.append(
            Finding(
                Kind.APPROVAL_RATE_LOW,
                livemode,
                f"Approval rate dropped to {_percent(rate)} ({mode} mode)",
                f"{recent.approved} of {recent.decided} payments were approved in {window}, below the "
                f"{_percent(thresholds.approval_rate_min)} threshold (the {thresholds.baseline_hours} hours "
                f"before: {_percent(before.approval_rate)}). Look at the declined payments' failure codes.",
                {
                    "approval_rate": round(rate, 4),
                    "approved": recent.approved,
                    "decided": recent.decided,
                    "baseline_approval_rate": None
                    if before.approval_rate is None
                    else round(before.approval_rate, 4),
                    "threshold": thresholds.approval_rate_min,
                    "window_minutes": thresholds.window_minutes,
                },
            )
        )
    for kind, label, recent_count, baseline_count, advice in (
        (
            Kind.RISK_BLOCKS_SPIKE,
            "Risk blocks",
            recent.risk_blocked,
            before.risk_blocked,
            "A card-testing attack looks like this; the blocked payments show the rules that fired.",
        ),
        (
            Kind.PROCESSOR_ERRORS_SPIKE,
            "Processor errors",
            recent.processor_errors,
            before.processor_errors,
            "Payments are retried automatically; if it lasts, the processor may be having an outage.",
        ),
    ):
        spiking, expected = _spike(recent_count, baseline_count, thresholds)
        if spiking:
            found.append(
                Finding(
                    kind,
                    livemode,
                    f"{label} are spiking: {recent_count} in {thresholds.window_minutes} minutes "
                    f"({mode} mode)",
                    f"{recent_count} in {window}, against about {expected:.1f} expected from the "
                    f"{thresholds.baseline_hours} hours before. {advice}",
                    {
                        "count": recent_count,
                        "baseline_count": baseline_count,
                        "expected": round(expected, 2),
                        "factor": thresholds.spike_factor,
                        "window_minutes": thresholds.window_minutes,
                    },
                )
            )
    return found


LINKS: Final = {
    Kind.APPROVAL_RATE_LOW: "/portal/payments?status=failed",
    Kind.RISK_BLOCKS_SPIKE: "/portal/payments?status=failed",
    Kind.PROCESSOR_ERRORS_SPIKE: "/portal/payments",
}


def detect(session: Session, ctx: Context, *, tenant_id: str, thresholds: Thresholds) -> list[Notification]:
    """Run every check in both modes for the current tenant and notify what is new (not within a kind's
    cooldown). Safe to run twice: the window's end, to the minute, is the notification's dedup key."""
    now = ctx.clock.now()
    made: list[Notification] = []
    for livemode in (False, True):
        for finding in findings(session, now=now, livemode=livemode, thresholds=thresholds):
            cooldown = now - timedelta(minutes=thresholds.cooldown_minutes)
            if (
                service.recent_of_kind(session, kind=finding.kind, livemode=livemode, since=cooldown)
                is not None
            ):
                continue
            mode = "live" if livemode else "test"
            notification = service.notify(
                session,
                ctx,
                tenant_id=tenant_id,
                kind=finding.kind,
                title=finding.title,
                body=finding.body,
                link=LINKS[finding.kind],
                livemode=livemode,
                dedup_key=f"{finding.kind}:{mode}:{now:%Y-%m-%dT%H:%M}",
                data=finding.data,
            )
            if notification is not None:
                made.append(notification)
    return made
