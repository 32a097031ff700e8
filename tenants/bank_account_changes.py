"""A payout bank account change, asked once from the portal or the API: carried out now, or held for a
second person when the tenant's four-eyes policy has `payout.bank_account` on (tenants/approvals.py).

The held account is stored at once, sealed, as PENDING_APPROVAL (so the number is never in the request's
`params`); the request names it, and approving it (core/payouts/approvals.py) makes exactly that account
the active one. The owners are mailed at each step by core/payouts/jobs.notify_bank_account_change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.context import Context
from core.errors import PermissionDenied
from core.payouts import bank_accounts
from core.payouts.models import BankAccount
from tenants import approvals
from tenants.models import ApprovalRequest
from tenants.permissions import Permission


@dataclass(frozen=True)
class Change:
    account: BankAccount
    #: The pending request when the change waits for a second person; None when it was made at once.
    request: ApprovalRequest | None


def change_bank_account(
    session: Session,
    ctx: Context,
    *,
    requester: approvals.Requester,
    tenant_id: str,
    currency: str,
    account_holder: str,
    details: bank_accounts.BankDetails,
    reason: str = "",
    livemode: bool = False,
) -> Change:
    held = approvals.required(session, kind_name=approvals.BANK_ACCOUNT, params={})
    if held and Permission.PAYOUTS_MANAGE not in requester.permissions:
        # Refused before anything is stored (submit would refuse it too, after the fact).
        raise PermissionDenied(f"Asking for this needs the {Permission.PAYOUTS_MANAGE} permission.")
    account = bank_accounts.add_bank_account(
        session,
        ctx,
        tenant_id=tenant_id,
        currency=currency,
        account_holder=account_holder,
        details=details,
        requested_by=requester.id,
        needs_approval=held,
        livemode=livemode,
    )
    if not held:
        return Change(account, None)
    request = approvals.submit(
        session,
        ctx,
        kind_name=approvals.BANK_ACCOUNT,
        params={"bank_account_id": account.id, "currency": account.currency, "last4": account.last4},
        summary=summary(account),
        reason=reason,
        requester=requester,
    )
    return Change(account, request)


def summary(account: BankAccount) -> str:
    return (
        f"Pay {account.currency} payouts to {bank_accounts.mask(account.last4)} "
        f"({account.account_holder}) from now on"
    )
