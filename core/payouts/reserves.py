"""Risk reserves: a rolling reserve set per tenant, raised automatically when the refund or dispute rate
of the last 90 days is above a threshold; always shown to the merchant with its reason and release date.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import actions
from core.errors import InvalidInput
from core.ledger import service as ledger
from core.ledger.models import BalanceTransaction, TxnType
from core.payouts.edge import Ctx, Ref, audit

WINDOW: Final = timedelta(days=90)
#: Dispute rate (disputes / charges) above which the reserve is raised.
DISPUTE_RATE_THRESHOLD: Final = 0.01
#: Refund rate (refunds / charges) above which the reserve is raised.
REFUND_RATE_THRESHOLD: Final = 0.10
#: Charges needed before a rate means anything.
MIN_CHARGES: Final = 20
RAISED_BPS: Final = 1_000
RAISED_DAYS: Final = 90


def _count(session: Session, tenant_id: str, kind: TxnType, since: object) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                BalanceTransaction.tenant_id == tenant_id,
                BalanceTransaction.type == kind,
                BalanceTransaction.created_at >= since,
            )
        )
        or 0
    )


def apply_risk_signals(session: Session, ctx: Ctx, *, tenant_id: str) -> bool:
    """Raise the tenant's reserve to 10 % for 90 days when a rate is over its threshold (never lowers
    one: releasing a reserve is a person's decision). True when it raised it."""
    since = ctx.clock.now() - WINDOW
    charges = _count(session, tenant_id, TxnType.CHARGE, since)
    if charges < MIN_CHARGES:
        return False
    dispute_rate = _count(session, tenant_id, TxnType.DISPUTE, since) / charges
    refund_rate = _count(session, tenant_id, TxnType.REFUND, since) / charges
    reason = None
    if dispute_rate > DISPUTE_RATE_THRESHOLD:
        reason = f"dispute rate {dispute_rate:.1%} above {DISPUTE_RATE_THRESHOLD:.0%} (last 90 days)"
    elif refund_rate > REFUND_RATE_THRESHOLD:
        reason = f"refund rate {refund_rate:.1%} above {REFUND_RATE_THRESHOLD:.0%} (last 90 days)"
    terms = ledger.settlement_terms(session, tenant_id=tenant_id)
    if reason is None or terms.reserve_bps >= RAISED_BPS:
        return False
    ledger.set_settlement_terms(
        session,
        tenant_id=tenant_id,
        clock=ctx.clock,
        reserve_bps=RAISED_BPS,
        reserve_days=RAISED_DAYS,
        reserve_reason=reason,
        reserve_source="risk",
    )
    audit(
        session,
        ctx,
        actions.RESERVE_RAISED,
        subject=Ref("settlement_terms", "default", tenant_id),
        details={"reserve_bps": RAISED_BPS, "reserve_days": RAISED_DAYS, "reason": reason},
    )
    return True


MAX_REASON: Final = 200


def set_terms(
    session: Session,
    ctx: Ctx,
    *,
    tenant_id: str,
    reason: str,
    delay_days: int | None = None,
    reserve_bps: int | None = None,
    reserve_days: int | None = None,
) -> ledger.Terms:
    """An operator sets the tenant's settlement delay and rolling reserve (`kassa payouts terms`); values
    left None keep theirs. The reason is required: the merchant sees it beside a reserve, and the audit
    row keeps it with the terms before and after. A reserve set here is `manual`: the risk signals raise
    it again only when it is below theirs."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidInput("Give the reason for the change (the merchant sees it).", param="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"Keep the reason under {MAX_REASON} characters.", param="reason")
    if delay_days is None and reserve_bps is None and reserve_days is None:
        raise InvalidInput("Give at least one of the delay days, reserve bps or reserve days.")
    before = ledger.settlement_terms(session, tenant_id=tenant_id)
    reserve_changes = reserve_bps is not None or reserve_days is not None
    if reserve_changes:
        bps = before.reserve_bps if reserve_bps is None else reserve_bps
        days = before.reserve_days if reserve_days is None else reserve_days
        if bps and not days:
            raise InvalidInput("A reserve needs the days it is held for (above 0).", param="reserve_days")
        # The reason and source go with the reserve (the ledger stores them when the bps are given); a
        # change of the delay alone keeps the reserve's own reason.
        reserve_bps = bps
    ledger.set_settlement_terms(
        session,
        tenant_id=tenant_id,
        clock=ctx.clock,
        delay_days=delay_days,
        reserve_bps=reserve_bps,
        reserve_days=reserve_days,
        reserve_reason=reason if reserve_changes else None,
        reserve_source="manual",
    )
    after = ledger.settlement_terms(session, tenant_id=tenant_id)
    audit(
        session,
        ctx,
        actions.SETTLEMENT_TERMS_UPDATED,
        subject=Ref("settlement_terms", "default", tenant_id),
        details={
            "reason": reason,
            "before": {"delay_days": before.delay_days, "reserve_bps": before.reserve_bps,
                       "reserve_days": before.reserve_days},
            "after": {"delay_days": after.delay_days, "reserve_bps": after.reserve_bps,
                      "reserve_days": after.reserve_days},
        },
    )  # fmt: skip
    return after


def reserve_schedule(session: Session, *, tenant_id: str) -> list[BalanceTransaction]:
    """The held reserve lines still to be released (amount and release date), soonest first."""
    return list(
        session.scalars(
            select(BalanceTransaction)
            .where(
                BalanceTransaction.tenant_id == tenant_id,
                BalanceTransaction.type == TxnType.RESERVE_RELEASE,
                BalanceTransaction.status == "pending",
            )
            .order_by(BalanceTransaction.available_on)
        )
    )
