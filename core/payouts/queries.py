"""List queries of payouts and balance transactions (API and portal page with the same ones)."""

from __future__ import annotations

from typing import Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.ledger.models import BalanceTransaction
from core.pagination import Cursor, Page, paginate
from core.payouts.models import Payout


def list_balance_transactions(
    session: Session,
    *,
    livemode: bool,
    payout: str | None = None,
    type: str | None = None,
    **cursor: Unpack[Cursor],
) -> Page[BalanceTransaction]:
    statement = select(BalanceTransaction).where(BalanceTransaction.livemode == livemode)
    if payout is not None:
        statement = statement.where(BalanceTransaction.payout_id == payout)
    if type is not None:
        statement = statement.where(BalanceTransaction.type == type)
    return paginate(session, statement, id_column=BalanceTransaction.id, **cursor)


def list_payouts(
    session: Session,
    *,
    livemode: bool,
    status: str | None = None,
    **cursor: Unpack[Cursor],
) -> Page[Payout]:
    statement = select(Payout).where(Payout.livemode == livemode)
    if status is not None:
        statement = statement.where(Payout.status == status)
    return paginate(session, statement, id_column=Payout.id, **cursor)
