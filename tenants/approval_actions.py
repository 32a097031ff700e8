"""The executors of the approvable kinds Kassa has (tenants/approvals.py `KINDS`).

Each takes the JSON `params` stored with the request, re-checks what may have changed since, and carries
the action out as `ctx.actor` (the approver, or the requester when no approval was needed).
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy.orm import Session

from core.context import Context
from core.errors import InvalidInput
from core.jobs import runtime
from core.payments import service as payments
from tenants import api_keys, team
from tenants import permissions as perms
from tenants.models import KeyKind, KeyMode, Role
from tenants.service import issue_key_record


def refund(session: Session, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """`{"payment_id", "amount", "currency", "reason"}`: refund exactly that amount."""
    payment = payments.get(session, payment_id=str(params["payment_id"]))
    if payment.currency != params.get("currency"):
        raise InvalidInput("The payment's currency is not the one asked for.", param="currency")
    made = payments.refund(
        session,
        ctx,
        payment_id=payment.id,
        amount=int(params["amount"]),
        reason=params.get("reason"),
        processor=runtime.current().processor(payment.livemode),
    )
    return {"refund": made.id, "amount": made.amount, "currency": made.currency}


def live_secret_key(session: Session, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """`{"action": "create", "permissions": [...] | null}`, or
    `{"action": "roll", "key_id", "overlap_seconds"}`.

    The new secret is sealed under the KMS into the result, for the requester to see once
    (`reveal_secret`): the approver never sees it."""
    if params.get("action") == "roll":
        rolled = api_keys.roll(
            session,
            ctx,
            key_id=str(params["key_id"]),
            livemode=True,
            overlap=api_keys.overlap_from_seconds(params.get("overlap_seconds", 0)),
        )
        record, key = rolled.new, rolled.key
    else:
        chosen = params.get("permissions")
        if chosen:
            record, key = api_keys.create_restricted(
                session, ctx, tenant_id=_tenant(session), mode=KeyMode.LIVE, permissions=perms.parse(chosen)
            )
        else:
            record, key = issue_key_record(
                session, ctx, tenant_id=_tenant(session), kind=KeyKind.SECRET, mode=KeyMode.LIVE
            )
    sealed = ctx.kms.encrypt(key.encode(), context=f"approval.secret:{record.id}")
    return {"key": record.id, "display": record.display, "sealed_secret": base64.b64encode(sealed).decode()}


def reveal_secret(ctx: Context, result: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The sealed secret of a held live key, once: (secret, the result without it)."""
    sealed = result.get("sealed_secret")
    if not isinstance(sealed, str):
        return None, result
    secret = ctx.kms.decrypt(base64.b64decode(sealed), context=f"approval.secret:{result['key']}").decode()
    return secret, {k: v for k, v in result.items() if k != "sealed_secret"} | {"secret_shown": True}


def define_role(session: Session, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """`{"role_id": null | "role_…", "name", "permissions", "granter": {...}}`: the requester's grant rule is
    checked again with what they held when they asked."""
    granter_data = params["granter"]
    granter = team.Granter(
        user_id=str(granter_data["user_id"]),
        role=Role(granter_data["role"]),
        permissions=perms.of_key(granter_data["permissions"]),
    )
    role = team.define_role(
        session,
        ctx,
        role_id=params.get("role_id"),
        name=str(params["name"]),
        permissions=perms.parse(params["permissions"]),
        granter=granter,
    )
    return {"role": role.id, "name": role.name}


def _tenant(session: Session) -> str:
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, str):
        raise RuntimeError("no tenant in context")
    return tenant_id
