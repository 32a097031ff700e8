"""List queries of payouts and balance transactions (API and portal page with the same ones)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.ledger.models import BalanceTransaction
from core.pagination import DEFAULT_LIMIT, Page, paginate
from core.payouts.models import Payout


def list_balance_transactions(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    payout: str | None = None,
    type: str | None = None,
) -> Page[BalanceTransaction]:
    statement = select(BalanceTransaction).where(BalanceTransaction.livemode == livemode)
    if payout is not None:
        statement = statement.where(BalanceTransaction.payout_id == payout)
    if type is not None:
        statement = statement.where(BalanceTransaction.type == type)
    return paginate(
        session,
        statement,
        id_column=BalanceTransaction.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )


def list_payouts(
    session: Session,
    *,
    livemode: bool,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    status: str | None = None,
) -> Page[Payout]:
    statement = select(Payout).where(Payout.livemode == livemode)
    if status is not None:
        statement = statement.where(Payout.status == status)
    return paginate(
        session,
        statement,
        id_column=Payout.id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )
