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
"Alerts and notifications"; `KASSA_ALERT_*` environment variables change them (`Thresholds.from_env`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from core.context import Context
from core.errors import InvalidInput
from core.notifications import service
from core.notifications.kinds import Kind
from core.notifications.models import Notification
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
