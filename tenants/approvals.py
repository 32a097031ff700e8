"""Four-eyes approvals: dangerous actions an owner wants a second person to approve.

A small generic module. Each approvable *kind* of action is declared once in `KINDS` with the permission
it needs and its executor (named by dotted path, loaded when a request is approved); an owner turns a kind
on per tenant (`set_policy`; refunds with an amount per currency). An operation that may need approval
asks once:

    outcome = approvals.submit_or_run(
        session, ctx, kind="refund", params={...}, summary="Refund €250.00 of pay_…", reason=why,
        requester=approvals.Requester.user(user_id, permissions),
    )
    if outcome.request is not None:   # held: nothing happened yet; tell the person it awaits approval
        ...
    else:                             # not held: carried out now, `outcome.result` is the executor's answer
        ...

`params` is JSON and exactly what the executor will be called with, later, when another person holding
`approvals:decide` *and* the kind's permission approves (`approve`): the action is carried out exactly as
requested, once (the request row is locked). The requester never approves their own request; a request
expires `LIFETIME` (72 hours) after it was made. Every step is audited in the tenant's chain and emailed
(tenants/notifications.py) to the people who can decide, then to the requester.

An executor is `def execute(session: Session, ctx: Context, params: dict[str, Any]) -> dict[str, Any]`: it
runs in the approver's transaction and as the approver (`ctx.actor`), re-checks whatever may have changed
since the request (a `KassaError` it raises marks the request `failed`, with the message), and returns
what it made (`{"refund": "re_…"}`), stored on the request. A feature adds its kind to `KINDS` (and, if
the kind has a condition, a `holds` function): see docs/approvals.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.context import ActorType, Context
from core.db import get_by_id
from core.errors import Conflict, InvalidInput, KassaError, PermissionDenied
from core.ids import new_id
from core.money import format_amount
from tenants.models import ApprovalPolicy, ApprovalRequest, ApprovalStatus
from tenants.permissions import Permission

LIFETIME: Final = timedelta(hours=72)
#: The mail job (tenants/notifications.py), named: the outbox stores a job's name.
NOTICE_JOB: Final = "tenants.notifications.send_approval_notice"
MAX_REASON: Final = 500

Executor = Callable[[Session, Context, dict[str, Any]], dict[str, Any]]


def _refund_holds(settings: dict[str, Any], params: dict[str, Any]) -> bool:
    thresholds = settings.get("thresholds") or {}
    limit = thresholds.get(str(params.get("currency", "")).upper())
    return isinstance(limit, int) and int(params.get("amount") or 0) > limit


def _always(settings: dict[str, Any], params: dict[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class Kind:
    """One approvable kind of action."""

    name: str
    #: What the policy screen calls it.
    title: str
    #: Held by the requester (to ask) and by the approver (besides approvals:decide).
    permission: Permission
    #: `module:function`, the executor (see the module docstring); imported only when needed.
    executor: str
    #: Whether an enabled policy holds these `params` (refunds: above the currency's amount).
    holds: Callable[[dict[str, Any], dict[str, Any]], bool] = field(default=_always)
    #: The policy has amounts per currency (refunds) rather than a plain on/off.
    thresholds: bool = False
    #: `module:function`, called `(session, ctx, params)` when a request of this kind is declined, withdrawn
    #: or expires (a bank account change undoes the pending account it stored); None: nothing to undo.
    on_close: str | None = None


REFUND: Final = "refund"
LIVE_SECRET_KEY: Final = "api_key.live_secret"  # noqa: S105  (a kind's name, not a secret)
ROLE_DEFINITION: Final = "role.define"
SSO_CONFIGURATION: Final = "sso.configure"
BANK_ACCOUNT: Final = "payout.bank_account"
#: A `params` key starting with this holds something sealed under the KMS (an SSO client secret): it goes
#: to the executor only, never into the audit trail, the API's answer or a page.
SEALED_PREFIX: Final = "sealed_"

#: Every approvable kind (a feature adds its own here, with its executor).
KINDS: dict[str, Kind] = {
    REFUND: Kind(
        REFUND,
        "Refunds above an amount",
        Permission.PAYMENTS_REFUND,
        "tenants.approval_actions:refund",
        holds=_refund_holds,
        thresholds=True,
    ),
    LIVE_SECRET_KEY: Kind(
        LIVE_SECRET_KEY,
        "Creating or rolling live secret keys",
        Permission.API_KEYS_MANAGE,
        "tenants.approval_actions:live_secret_key",
    ),
    ROLE_DEFINITION: Kind(
        ROLE_DEFINITION,
        "Creating or changing custom roles",
        Permission.TEAM_MANAGE,
        "tenants.approval_actions:define_role",
    ),
    SSO_CONFIGURATION: Kind(
        SSO_CONFIGURATION,
        "Changing the single sign-on settings",
        Permission.TEAM_MANAGE,
        "tenants.sso:apply_approved",
    ),
    BANK_ACCOUNT: Kind(
        BANK_ACCOUNT,
        "Changing the payout bank account",
        Permission.PAYOUTS_MANAGE,
        "core.payouts.approvals:change_bank_account",
        on_close="core.payouts.approvals:retire_bank_account",
    ),
}


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise InvalidInput(f"Unknown kind of approval: {name!r}.", param="kind") from None


def executor_of(k: Kind) -> Executor:
    module, _, name = k.executor.partition(":")
    found: Executor = getattr(importlib.import_module(module), name)
    return found


def _closed(session: Session, ctx: Context, request: ApprovalRequest) -> None:
    """A request that will not be carried out: let its kind undo what asking stored."""
    hook = kind(request.kind).on_close
    if hook is None:
        return
    module, _, name = hook.partition(":")
    getattr(importlib.import_module(module), name)(session, ctx, dict(request.params))


@dataclass(frozen=True)
class Requester:
    """Who asks: a portal user or an API key, and what they hold."""

    type: ActorType
    id: str
    permissions: frozenset[Permission]


@dataclass(frozen=True)
class SubmitOutcome:
    #: The held request (nothing done yet), or None when the action was carried out at once.
    request: ApprovalRequest | None = None
    #: The executor's answer when carried out at once.
    result: dict[str, Any] | None = None


# -- policies --------------------------------------------------------------------------------------------


def policies(session: Session) -> dict[str, dict[str, Any]]:
    """Each kind's settings in the current tenant: `{"enabled": bool, "thresholds": {...}}`."""
    stored = {p.kind: p.settings for p in session.scalars(select(ApprovalPolicy))}
    return {name: stored.get(name, {"enabled": False}) for name in KINDS}


def required(session: Session, *, kind_name: str, params: dict[str, Any]) -> bool:
    """Whether the current tenant's policy holds this action for a second person."""
    k = kind(kind_name)
    policy = session.scalar(select(ApprovalPolicy).where(ApprovalPolicy.kind == k.name))
    return policy is not None and bool(policy.settings.get("enabled")) and k.holds(policy.settings, params)


def set_policy(
    session: Session, ctx: Context, *, kind_name: str, enabled: bool, thresholds: dict[str, int] | None = None
) -> ApprovalPolicy:
    """Turn a kind on or off (owners only: the caller checks the role). Refund thresholds are minor units
    per upper-case currency; a refund *above* its currency's amount is held, other currencies are not."""
    k = kind(kind_name)
    settings: dict[str, Any] = {"enabled": bool(enabled)}
    if k.thresholds:
        clean = {c.upper(): int(v) for c, v in (thresholds or {}).items()}
        if enabled and not clean:
            raise InvalidInput("Give an amount for at least one currency.", param="thresholds")
        if any(v < 0 for v in clean.values()):
            raise InvalidInput("Amounts cannot be negative.", param="thresholds")
        settings["thresholds"] = clean
    policy = session.scalar(select(ApprovalPolicy).where(ApprovalPolicy.kind == k.name).with_for_update())
    tenant_id = _tenant(session)
    if policy is None:
        policy = ApprovalPolicy(
            tenant_id=tenant_id, id=new_id("apol"), kind=k.name, settings=settings, updated_at=ctx.clock.now()
        )
        session.add(policy)
    else:
        policy.settings, policy.updated_at = settings, ctx.clock.now()
    session.flush()
    audit.record(
        session, ctx, actions.APPROVAL_POLICY_CHANGED, subject=policy, details={"kind": k.name, **settings}
    )
    return policy


# -- requests --------------------------------------------------------------------------------------------


def submit_or_run(
    session: Session,
    ctx: Context,
    *,
    kind_name: str,
    params: dict[str, Any],
    summary: str,
    reason: str,
    requester: Requester,
) -> SubmitOutcome:
    """Carry the action out now, or, when the tenant's policy holds it, store it as a pending request."""
    if not required(session, kind_name=kind_name, params=params):
        return SubmitOutcome(result=executor_of(kind(kind_name))(session, ctx, params))
    return SubmitOutcome(
        request=submit(
            session,
            ctx,
            kind_name=kind_name,
            params=params,
            summary=summary,
            reason=reason,
            requester=requester,
        )
    )


def submit(
    session: Session,
    ctx: Context,
    *,
    kind_name: str,
    params: dict[str, Any],
    summary: str,
    reason: str,
    requester: Requester,
) -> ApprovalRequest:
    k = kind(kind_name)
    if k.permission not in requester.permissions:
        raise PermissionDenied(f"Asking for this needs the {k.permission} permission.")
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"Keep the reason under {MAX_REASON} characters.", param="reason")
    now = ctx.clock.now()
    request = ApprovalRequest(
        tenant_id=_tenant(session),
        id=new_id("apr"),
        kind=k.name,
        params=params,
        summary=summary[:300],
        reason=reason or "No reason given.",
        requested_by_type=str(requester.type),
        requested_by=requester.id,
        status=ApprovalStatus.PENDING,
        created_at=now,
        expires_at=now + LIFETIME,
        decided_by=None,
        decided_at=None,
        decision_note=None,
        result=None,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        ctx,
        actions.APPROVAL_REQUESTED,
        subject=request,
        details={
            "kind": k.name,
            "summary": request.summary,
            "reason": request.reason,
            "params": public_params(params),
        },
    )
    _notify(ctx, request, "requested")
    return request


def get(session: Session, request_id: str, *, lock: bool = False) -> ApprovalRequest:
    """A request of the current tenant (another tenant's id: NotFound)."""
    return get_by_id(session, ApprovalRequest, request_id, prefix="apr", what="approval request", lock=lock)


def list_requests(
    session: Session, *, status: ApprovalStatus | None, limit: int = 100
) -> list[ApprovalRequest]:
    statement = select(ApprovalRequest).order_by(ApprovalRequest.created_at.desc(), ApprovalRequest.id.desc())
    if status is not None:
        statement = statement.where(ApprovalRequest.status == status)
    return list(session.scalars(statement.limit(limit)))


def pending_count(session: Session, ctx: Context) -> int:
    """Pending requests not yet expired (the navigation's count)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ApprovalRequest)
            .where(
                ApprovalRequest.status == ApprovalStatus.PENDING, ApprovalRequest.expires_at > ctx.clock.now()
            )
        )
        or 0
    )


class RequestExpired(Conflict):
    """Decided too late: the request is marked expired, and that marking stands (committed with the
    refusal)."""

    code = "approval_expired"
    keeps_effects = True


def _pending_or_refuse(session: Session, ctx: Context, request: ApprovalRequest) -> None:
    if request.status is ApprovalStatus.PENDING and ctx.clock.now() >= request.expires_at:
        _expire(session, ctx, request)
        raise RequestExpired(
            "This request expired (72 hours after it was made) and can no longer be decided.", param="id"
        )
    if request.status is not ApprovalStatus.PENDING:
        raise Conflict(f"This request is {request.status} and can no longer be decided.", param="id")


def check_may_decide(request: ApprovalRequest, *, user_id: str, permissions: frozenset[Permission]) -> None:
    """The one rule of who decides: not the requester; holding approvals:decide and the kind's permission."""
    if request.requested_by_type == ActorType.USER and request.requested_by == user_id:
        raise PermissionDenied("You asked for this yourself: another person must approve it.")
    needed = {Permission.APPROVALS_DECIDE, kind(request.kind).permission}
    missing = needed - permissions
    if missing:
        names = ", ".join(sorted(p.value for p in missing))
        raise PermissionDenied(f"Deciding this request needs: {names}.")


def may_decide(request: ApprovalRequest, *, user_id: str, permissions: frozenset[Permission]) -> bool:
    try:
        check_may_decide(request, user_id=user_id, permissions=permissions)
    except PermissionDenied:
        return False
    return request.status is ApprovalStatus.PENDING


def approve(
    session: Session, ctx: Context, *, request_id: str, permissions: frozenset[Permission], note: str = ""
) -> ApprovalRequest:
    """Approve and carry out, once, as `ctx.actor`. A refused execution marks the request `failed`, keeps
    the record (committed with it) and raises nothing: the page shows the outcome."""
    request = get(session, request_id, lock=True)
    check_may_decide(request, user_id=ctx.actor.id, permissions=permissions)
    _pending_or_refuse(session, ctx, request)
    k = kind(request.kind)
    request.decided_by, request.decided_at = ctx.actor.id, ctx.clock.now()
    request.decision_note = " ".join((note or "").split())[:MAX_REASON] or None
    savepoint = session.begin_nested()
    try:
        result = executor_of(k)(session, ctx, dict(request.params))
    except KassaError as error:
        if error.keeps_effects or error.status >= 500:
            raise
        savepoint.rollback()
        request.status, request.result = ApprovalStatus.FAILED, {"error": error.message}
        _wipe_sealed(request)
        session.flush()
        audit.record(
            session,
            ctx,
            actions.APPROVAL_FAILED,
            subject=request,
            details={"kind": k.name, "error": error.message},
            outcome=Outcome.FAILURE,
        )
        _notify(ctx, request, "failed")
        return request
    savepoint.commit()
    request.status, request.result = ApprovalStatus.APPROVED, result
    _wipe_sealed(request)
    session.flush()
    audit.record(
        session,
        ctx,
        actions.APPROVAL_APPROVED,
        subject=request,
        details={
            "kind": k.name,
            "requested_by": request.requested_by,
            "result": result,
            "note": request.decision_note,
        },
    )
    _notify(ctx, request, "approved")
    return request


def decline(
    session: Session, ctx: Context, *, request_id: str, permissions: frozenset[Permission], note: str = ""
) -> ApprovalRequest:
    request = get(session, request_id, lock=True)
    check_may_decide(request, user_id=ctx.actor.id, permissions=permissions)
    _pending_or_refuse(session, ctx, request)
    request.status = ApprovalStatus.DECLINED
    request.decided_by, request.decided_at = ctx.actor.id, ctx.clock.now()
    _wipe_sealed(request)
    request.decision_note = " ".join((note or "").split())[:MAX_REASON] or None
    session.flush()
    _closed(session, ctx, request)
    audit.record(
        session,
        ctx,
        actions.APPROVAL_DECLINED,
        subject=request,
        details={"kind": request.kind, "note": request.decision_note},
    )
    _notify(ctx, request, "declined")
    return request


def cancel(session: Session, ctx: Context, *, request_id: str) -> ApprovalRequest:
    """The requester withdraws their own pending request."""
    request = get(session, request_id, lock=True)
    if request.requested_by != ctx.actor.id:
        raise PermissionDenied("Only the person who asked can withdraw a request.")
    _pending_or_refuse(session, ctx, request)
    request.status, request.decided_by, request.decided_at = (
        ApprovalStatus.CANCELED,
        ctx.actor.id,
        ctx.clock.now(),
    )
    _wipe_sealed(request)
    session.flush()
    _closed(session, ctx, request)
    audit.record(session, ctx, actions.APPROVAL_CANCELED, subject=request, details={"kind": request.kind})
    return request


def _expire(session: Session, ctx: Context, request: ApprovalRequest) -> None:
    request.status, request.decided_at = ApprovalStatus.EXPIRED, ctx.clock.now()
    _wipe_sealed(request)
    session.flush()
    _closed(session, ctx, request)
    audit.record(
        session,
        ctx,
        actions.APPROVAL_EXPIRED,
        subject=request,
        details={"kind": request.kind},
        outcome=Outcome.FAILURE,
    )
    _notify(ctx, request, "expired")


def expire_due(session: Session, ctx: Context) -> int:
    """Mark every pending request past its 72 hours expired (the cron sweep; deciding one checks too)."""
    due = session.scalars(
        select(ApprovalRequest)
        .where(
            ApprovalRequest.status == ApprovalStatus.PENDING, ApprovalRequest.expires_at <= ctx.clock.now()
        )
        .with_for_update(skip_locked=True)
    ).all()
    for request in due:
        _expire(session, ctx, request)
    return len(due)


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    """`params` without what is sealed (`SEALED_PREFIX`): what pages, the API and the audit trail show."""
    return {k: v for k, v in params.items() if not k.startswith(SEALED_PREFIX)}


def _wipe_sealed(request: ApprovalRequest) -> None:
    """A decided request keeps what was asked, but no longer what was sealed for its executor (an SSO
    client secret): nothing will open it again."""
    if any(k.startswith(SEALED_PREFIX) for k in request.params):
        request.params = public_params(request.params)


def _notify(ctx: Context, request: ApprovalRequest, step: str) -> None:
    ctx.jobs.enqueue(
        NOTICE_JOB,
        tenant_id=request.tenant_id,
        kwargs={"tenant_id": request.tenant_id, "request_id": request.id, "step": step},
    )


def _tenant(session: Session) -> str:
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, str):
        raise RuntimeError("no tenant in context")
    return tenant_id


def refund_summary(*, payment_id: str, amount: int, currency: str) -> str:
    return f"Refund {format_amount(amount, currency)} of {payment_id}"


def serialize(request: ApprovalRequest) -> dict[str, Any]:
    """The API's shape of a request (a held API refund answers it with 202)."""
    return {
        "id": request.id,
        "object": "approval_request",
        "kind": request.kind,
        "status": str(request.status),
        "summary": request.summary,
        "params": {k: v for k, v in public_params(request.params).items() if k != "granter"},
        "created_at": int(request.created_at.timestamp()),
        "expires_at": int(request.expires_at.timestamp()),
    }
