"""The locality editor's dry run: what a draft of the rules would have changed on the tenant's payments
of the last 30 days ("would have changed 14 payments: 9 would not have been offered Wallet, 5 over the
new limit"). Each payment is judged by `core.locality.service.resolve`, as the hosted page would have."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import money
from core.locality import service
from core.locality.service import Layer, LocalityRules
from core.locality.versions import METHOD_NAMES
from core.payments.models import CheckoutSession, Payment

#: How far back the dry run looks.
DRY_RUN_DAYS: Final = 30
#: The dry run lists at most this many affected payments (the counts cover all of them).
DRY_RUN_LIST_LIMIT: Final = 200


class Change(StrEnum):
    NOT_OFFERED = "not_offered"
    OVER_LIMIT = "over_limit"
    UNDER_LIMIT = "under_limit"
    THREE_DS = "three_ds"


@dataclass(frozen=True)
class AffectedPayment:
    payment_id: str
    created_at: datetime
    country: str
    amount: int
    currency: str
    method: str
    change: Change
    #: The change in words ("would not have been offered Wallet").
    reason: str


@dataclass(frozen=True)
class DryRun:
    since: datetime
    #: Payments looked at (the mode's payments of the last `DRY_RUN_DAYS` days).
    examined: int
    affected: int
    #: Counts per change; `not_offered` per method.
    counts: dict[str, int]
    payments: list[AffectedPayment] = field(default_factory=list)

    def summary(self) -> str:
        """ "Would have changed 14 payments: 9 would not have been offered Wallet, 5 over the new limit"."""
        if not self.affected:
            return f"Would have changed none of the {self.examined} payments of the last {DRY_RUN_DAYS} days."
        parts = []
        for key, count in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if key.startswith("not_offered:"):
                method = METHOD_NAMES.get(key.split(":", 1)[1], key)
                parts.append(f"{count} would not have been offered {method}")
            elif key == Change.OVER_LIMIT:
                parts.append(f"{count} over the new limit")
            elif key == Change.UNDER_LIMIT:
                parts.append(f"{count} under the new minimum")
            elif key == Change.THREE_DS:
                parts.append(f"{count} would have needed 3DS")
        noun = "payment" if self.affected == 1 else "payments"
        return f"Would have changed {self.affected} {noun}: " + ", ".join(parts)


def _change(rules: LocalityRules, payment: Payment, amount: int) -> tuple[Change, str] | None:
    problem = rules.problem(amount)
    method = str(payment.method)
    if problem == "amount_too_large":
        return (
            Change.OVER_LIMIT,
            f"over the new limit of {money.amount_text(rules.max_amount or 0, rules.currency)}",
        )
    if problem == "amount_too_small":
        return (
            Change.UNDER_LIMIT,
            f"under the new minimum of {money.amount_text(rules.min_amount or 0, rules.currency)}",
        )
    if method not in rules.methods:
        return Change.NOT_OFFERED, f"would not have been offered {METHOD_NAMES.get(method, method)}"
    if method == "card" and rules.three_ds_required and not payment.three_ds_required:
        return Change.THREE_DS, "would have needed 3DS"
    return None


def dry_run(
    session: Session,
    *,
    livemode: bool,
    layers: Sequence[Layer],
    tenant_country: str | None,
    now: datetime,
    days: int = DRY_RUN_DAYS,
) -> DryRun:
    """Replay the mode's payments of the last `days` days against `layers` (a draft): each payment whose
    checkout the draft would have refused, whose method it would not have offered, or whose card it would
    have challenged. Every payment is judged by `service.resolve`, as the hosted page would have."""
    since = now - timedelta(days=days)
    rows = session.execute(
        select(Payment, CheckoutSession.country, CheckoutSession.amount, CheckoutSession.payment_methods)
        .join(
            CheckoutSession,
            (CheckoutSession.tenant_id == Payment.tenant_id)
            & (CheckoutSession.id == Payment.checkout_session_id),
        )
        .where(Payment.livemode == livemode, Payment.created_at >= since, Payment.created_at <= now)
        .order_by(Payment.created_at.desc())
        .execution_options(yield_per=500)
    )
    counts: Counter[str] = Counter()
    affected: list[AffectedPayment] = []
    examined = total = 0
    for payment, session_country, session_amount, session_methods in rows:
        examined += 1
        country = session_country or tenant_country
        if country is None:
            continue
        rules = service.resolve(
            layers,
            country=country,
            currency=payment.currency,
            methods=list(session_methods or service.METHODS),
            amount=session_amount,
        )
        found = _change(rules, payment, session_amount)
        if found is None:
            continue
        change, reason = found
        total += 1
        counts[f"not_offered:{payment.method}" if change is Change.NOT_OFFERED else str(change)] += 1
        if len(affected) < DRY_RUN_LIST_LIMIT:
            affected.append(
                AffectedPayment(
                    payment_id=payment.id,
                    created_at=payment.created_at,
                    country=country,
                    amount=payment.amount,
                    currency=payment.currency,
                    method=str(payment.method),
                    change=change,
                    reason=reason,
                )
            )
    return DryRun(since=since, examined=examined, affected=total, counts=dict(counts), payments=affected)


def serialize_dry_run(result: DryRun) -> dict[str, Any]:
    return {
        "object": "locality_rule_version.dry_run",
        "since": int(result.since.timestamp()),
        "examined": result.examined,
        "affected": result.affected,
        "counts": result.counts,
        "summary": result.summary(),
        "payments": [
            {
                "payment": p.payment_id,
                "created_at": int(p.created_at.timestamp()),
                "country": p.country,
                "amount": p.amount,
                "currency": p.currency,
                "method": p.method,
                "change": str(p.change),
                "reason": p.reason,
            }
            for p in result.payments
        ],
    }
