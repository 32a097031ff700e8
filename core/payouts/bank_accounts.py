"""Bank accounts payouts go to: validated (schwifty for IBANs, python-stdnum for local numbers), stored only
sealed under the tenant's data key, shown masked, every change audited and mailed to the owners.

Four-eyes: `add_bank_account(..., needs_approval=True)` stores the new account as PENDING_APPROVAL and
leaves the current one in use; the approvals module (tenants/approvals.py, kind `payout.bank_account`,
executor core/payouts/approvals.py) calls `approve_bank_account` when a second person approves, or
`reject_bank_account` when the request is declined, withdrawn or expires. `approve` refuses the person who
asked for the change (docs/payouts.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError
from stdnum.us import rtn

from core.audit import actions
from core.errors import Conflict, InvalidInput, NotFound
from core.ids import has_prefix, new_id
from core.keys.models import KeyPurpose
from core.keys.service import keyed_digest, seal, unseal
from core.money import validate_currency
from core.payouts.edge import Ctx, audit
from core.payouts.models import BankAccount, BankAccountStatus

#: Sandbox test accounts (docs/payouts.md): payouts to these fail with the code shown; any other valid
#: account is paid after the sandbox delay.
FAILING_TEST_ACCOUNTS: Final = {
    "DE82370400440532013999": ("account_closed", "The bank account has been closed."),
    "DE14370400440000000002": ("no_account", "The bank account does not exist."),
    "110000000:000111111116": ("account_closed", "The bank account has been closed."),
}

#: The job that emails the tenant's owners about a change (core/payouts/jobs.py), written to the outbox
#: of the changing transaction: named, not imported (the jobs module imports this one).
NOTIFY_JOB: Final = "core.payouts.jobs.notify_bank_account_change"


@dataclass(frozen=True)
class BankDetails:
    """What was entered, validated and normalised. Never logged, never stored in clear."""

    kind: str
    number: str
    routing: str | None
    country: str
    bank_name: str | None

    @property
    def key(self) -> str:
        return self.number if self.routing is None else f"{self.routing}:{self.number}"


def validate(
    *,
    country: str,
    iban: str | None = None,
    account_number: str | None = None,
    routing_number: str | None = None,
) -> BankDetails:
    """An IBAN (any IBAN country) or, for the US, an account number and ABA routing number."""
    country = (country or "").strip().upper()
    if iban:
        try:
            parsed = IBAN(iban)
        except SchwiftyException:
            # The message never echoes the number.
            raise InvalidInput(
                "That is not a valid IBAN (check the digits and the country code).", param="iban"
            ) from None
        if country and parsed.country_code != country:
            raise InvalidInput("The IBAN belongs to another country than the one chosen.", param="iban")
        return BankDetails("iban", parsed.compact, None, parsed.country_code, parsed.bank_name)
    if country != "US":
        raise InvalidInput("Enter an IBAN; local account numbers are accepted for US accounts.", param="iban")
    number = "".join(ch for ch in (account_number or "") if not ch.isspace())
    routing = "".join(ch for ch in (routing_number or "") if not ch.isspace())
    try:
        rtn.validate(routing)
    except ValidationError:
        raise InvalidInput("That is not a valid ABA routing number.", param="routing_number") from None
    if not number.isdigit() or not 4 <= len(number) <= 17:
        raise InvalidInput("A US account number has 4 to 17 digits.", param="account_number")
    return BankDetails("local", number, routing, "US", None)


def mask(last4: str) -> str:
    return f"•••• {last4}"


def _aad(tenant_id: str, bank_account_id: str) -> bytes:
    return f"bank_account:{tenant_id}:{bank_account_id}".encode()


def add_bank_account(
    session: Session,
    ctx: Ctx,
    *,
    tenant_id: str,
    currency: str,
    account_holder: str,
    details: BankDetails,
    requested_by: str | None,
    needs_approval: bool = False,
    livemode: bool = False,
) -> BankAccount:
    """Store a new account for `currency`; it replaces the active one now, or after approval."""
    currency = validate_currency(currency)
    holder = (account_holder or "").strip()
    if not holder or len(holder) > 140:
        raise InvalidInput("Enter the account holder's name (up to 140 characters).", param="account_holder")
    account_id = new_id("ba")
    payload = json.dumps({"number": details.number, "routing": details.routing}).encode()
    row = BankAccount(
        tenant_id=tenant_id,
        id=account_id,
        currency=currency,
        country=details.country,
        account_holder=holder,
        kind=details.kind,
        number_encrypted=seal(
            session,
            tenant_id=tenant_id,
            purpose=KeyPurpose.BANK_ACCOUNT,
            plaintext=payload,
            kms=ctx.kms,
            aad=_aad(tenant_id, account_id),
            clock=ctx.clock,
        ),
        fingerprint=keyed_digest(
            session,
            tenant_id=tenant_id,
            message=b"bank:" + details.key.encode(),
            kms=ctx.kms,
            clock=ctx.clock,
        ),
        last4=details.number[-4:],
        bank_name=details.bank_name,
        status=BankAccountStatus.PENDING_APPROVAL if needs_approval else BankAccountStatus.ACTIVE,
        requested_by=requested_by,
        created_at=ctx.clock.now(),
        livemode=livemode,
    )
    session.add(row)
    session.flush()
    if not needs_approval:
        _activate(session, ctx, row)
    audit(
        session,
        ctx,
        actions.BANK_ACCOUNT_ADDED,
        subject=row,
        details={"currency": currency, "last4": row.last4, "status": str(row.status)},
    )
    _notify(ctx, row)
    return row


def _notify(ctx: Ctx, row: BankAccount, *, status: str | None = None) -> None:
    ctx.jobs.enqueue(
        NOTIFY_JOB,
        tenant_id=row.tenant_id,
        kwargs={"tenant_id": row.tenant_id, "bank_account_id": row.id, "status": status or str(row.status)},
    )


def _activate(session: Session, ctx: Ctx, row: BankAccount) -> None:
    for other in session.scalars(
        select(BankAccount).where(
            BankAccount.tenant_id == row.tenant_id,
            BankAccount.currency == row.currency,
            BankAccount.status == BankAccountStatus.ACTIVE,
            BankAccount.id != row.id,
        )
    ):
        other.status = BankAccountStatus.INACTIVE
    row.status = BankAccountStatus.ACTIVE
    row.activated_at = ctx.clock.now()
    session.flush()


def get(session: Session, *, tenant_id: str, bank_account_id: str) -> BankAccount:
    row = (
        session.get(BankAccount, (tenant_id, bank_account_id)) if has_prefix(bank_account_id, "ba") else None
    )
    if row is None:
        raise NotFound("No such bank account.", param="bank_account")
    return row


def approve_bank_account(session: Session, ctx: Ctx, *, tenant_id: str, bank_account_id: str) -> BankAccount:
    """The four-eyes step: a second person makes a PENDING_APPROVAL account the active one."""
    row = get(session, tenant_id=tenant_id, bank_account_id=bank_account_id)
    if row.status is not BankAccountStatus.PENDING_APPROVAL:
        raise Conflict("This bank account change is not waiting for approval.")
    if row.requested_by is not None and row.requested_by == ctx.actor.id:
        raise Conflict("A bank account change needs a second person's approval.")
    _activate(session, ctx, row)
    audit(session, ctx, actions.BANK_ACCOUNT_APPROVED, subject=row, details={"last4": row.last4})
    _notify(ctx, row)
    return row


def reject_bank_account(session: Session, ctx: Ctx, *, tenant_id: str, bank_account_id: str) -> BankAccount:
    """A held change that will not happen (declined, withdrawn, expired): the account goes INACTIVE unused."""
    row = get(session, tenant_id=tenant_id, bank_account_id=bank_account_id)
    if row.status is not BankAccountStatus.PENDING_APPROVAL:
        raise Conflict("This bank account change is not waiting for approval.")
    row.status = BankAccountStatus.INACTIVE
    session.flush()
    audit(session, ctx, actions.BANK_ACCOUNT_REJECTED, subject=row, details={"last4": row.last4})
    _notify(ctx, row, status="rejected")
    return row


def active_account(session: Session, *, tenant_id: str, currency: str) -> BankAccount | None:
    return session.scalars(
        select(BankAccount).where(
            BankAccount.tenant_id == tenant_id,
            BankAccount.currency == currency,
            BankAccount.status == BankAccountStatus.ACTIVE,
        )
    ).first()


def list_accounts(session: Session, *, tenant_id: str) -> list[BankAccount]:
    return list(
        session.scalars(
            select(BankAccount)
            .where(BankAccount.tenant_id == tenant_id)
            .order_by(BankAccount.created_at.desc(), BankAccount.id.desc())
        )
    )


def sandbox_outcome(session: Session, ctx: Ctx, account: BankAccount) -> tuple[str, str] | None:
    """The sandbox bank's answer for this account: None (paid) or (failure code, message)."""
    data = json.loads(
        unseal(
            session,
            tenant_id=account.tenant_id,
            purpose=KeyPurpose.BANK_ACCOUNT,
            blob=account.number_encrypted,
            kms=ctx.kms,
            aad=_aad(account.tenant_id, account.id),
        )
    )
    key = data["number"] if data.get("routing") is None else f"{data['routing']}:{data['number']}"
    return FAILING_TEST_ACCOUNTS.get(key)


def serialize(account: BankAccount) -> dict[str, object]:
    return {
        "id": account.id,
        "object": "bank_account",
        "currency": account.currency,
        "country": account.country,
        "account_holder": account.account_holder,
        "kind": account.kind,
        "last4": account.last4,
        "masked": mask(account.last4),
        "bank_name": account.bank_name,
        "status": str(account.status),
        "created_at": int(account.created_at.timestamp()),
        "livemode": account.livemode,
    }


def owner_emails(session: Session, *, tenant_id: str) -> list[str]:
    """The email addresses of the tenant's owners. Plain SQL: core does not import tenants/ (the layer
    above it), and the membership rows are the tenant's own (row-level security applies)."""
    rows = session.execute(
        text(
            "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id "
            "WHERE m.tenant_id = :tenant AND m.role = 'owner' ORDER BY u.email"
        ),
        {"tenant": tenant_id},
    )
    return [str(email) for (email,) in rows]


def change_notice(account: BankAccount, *, status: str, sender: str) -> EmailMessage:
    what = {
        "pending_approval": "is waiting for a second person's approval",
        "active": "is now the account your payouts go to",
        "rejected": "was not approved and will not be used",
    }.get(status, "changed")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = sender
    message["Subject"] = f"Kassa: payout bank account {mask(account.last4)} {account.currency}"
    message.set_content(
        f"The {account.currency} bank account {mask(account.last4)} ({account.account_holder}) {what}.\n\n"
        "If you did not expect this change, sign in to the portal and check your payout settings now.\n"
    )
    return message
