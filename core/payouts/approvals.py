"""The four-eyes executor of a payout bank account change (`payout.bank_account` in tenants/approvals.py
`KINDS`; named there by its dotted path, so core imports nothing of tenants).

A held change is stored first as a PENDING_APPROVAL bank account (sealed, like every account: the request's
`params` carry only its id, currency and last four digits, never the number); approving makes exactly that
account the active one for its currency. Declining, withdrawing or expiring the request retires it
(`retire_bank_account`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.errors import Conflict
from core.payouts import bank_accounts
from core.payouts.edge import Ctx
from core.payouts.models import BankAccountStatus


def _tenant(session: Session) -> str:
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, str):
        raise RuntimeError("no tenant in context")
    return tenant_id


def change_bank_account(session: Session, ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """`{"bank_account_id", "currency", "last4"}`: make that account the active one for its currency."""
    tenant_id = _tenant(session)
    account = bank_accounts.get(session, tenant_id=tenant_id, bank_account_id=str(params["bank_account_id"]))
    if account.currency != params.get("currency") or account.last4 != params.get("last4"):
        raise Conflict("The bank account is not the one asked for.", param="bank_account")
    made = bank_accounts.approve_bank_account(session, ctx, tenant_id=tenant_id, bank_account_id=account.id)
    return {"bank_account": made.id, "currency": made.currency, "status": str(made.status)}


def retire_bank_account(session: Session, ctx: Ctx, params: dict[str, Any]) -> None:
    """The request was declined, withdrawn or expired: the account it proposed is never used."""
    tenant_id = _tenant(session)
    account = bank_accounts.get(session, tenant_id=tenant_id, bank_account_id=str(params["bank_account_id"]))
    if account.status is BankAccountStatus.PENDING_APPROVAL:
        bank_accounts.reject_bank_account(session, ctx, tenant_id=tenant_id, bank_account_id=account.id)
