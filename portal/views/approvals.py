"""The Approvals screens: pending and decided requests, one request with approve/decline, the policy.

Who sees a request: its requester and members holding its kind's permission. Who decides: another member
holding approvals:decide and that permission (tenants/approvals.py `check_may_decide`, enforced by the
operation, not the page). The policy (what needs a second person) is the owners' to set.
"""

from __future__ import annotations

import re
from decimal import Decimal

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from core import money
from core.audit import actions
from core.audit import service as audit
from core.errors import InvalidInput, NotFound
from core.web.request import runtime, uow
from portal.views.team import attempt, ctx, form_errors
from portal.views.team_forms import ConfirmForm, DecisionForm, PolicyForm
from tenants import approvals
from tenants.models import ApiKey, ApprovalRequest, ApprovalStatus, User

_THRESHOLD = re.compile(r"^([A-Za-z]{3})\s*([0-9]+(?:[.,][0-9]+)?)$")


def _visible(item: ApprovalRequest) -> bool:
    return (
        item.requested_by == current_user.id
        or approvals.kind(item.kind).permission in current_user.permissions
    )


def approvals_page() -> str:
    status_text = request.args.get("status") or "pending"
    status = (
        None
        if status_text == "all"
        else ApprovalStatus(status_text)
        if status_text in set(ApprovalStatus)
        else None
    )
    if status is None and status_text != "all":
        raise InvalidInput("Unknown status filter.", param="status")
    items = [r for r in approvals.list_requests(uow().session, status=status) if _visible(r)]
    now = runtime().clock.now()
    return render_template(
        "portal/approvals/list.html",
        items=items,
        status=status_text,
        statuses=["pending", "approved", "declined", "expired", "failed", "canceled", "all"],
        now=now,
    )


def _get_visible(request_id: str) -> ApprovalRequest:
    item = approvals.get(uow().session, request_id)
    if not _visible(item):
        raise NotFound(f"No such approval request: {request_id!r}.")
    return item


def approval_detail(request_id: str) -> str:
    item = _get_visible(request_id)
    secret = None
    if (
        item.status is ApprovalStatus.APPROVED
        and item.requested_by == current_user.id
        and item.result
        and "sealed_secret" in item.result
    ):
        # The held live key's secret, to its requester, once.
        from tenants.approval_actions import reveal_secret

        secret, remaining = reveal_secret(ctx(), dict(item.result))
        item.result = remaining
        audit.record(
            uow().session,
            ctx(),
            actions.API_KEY_SECRET_REVEALED,
            subject=item,
            details={"key": remaining.get("key")},
        )
    now = runtime().clock.now()
    return render_template(
        "portal/approvals/detail.html",
        item=item,
        kind=approvals.kind(item.kind),
        expired=item.status is ApprovalStatus.PENDING and now >= item.expires_at,
        may_decide=approvals.may_decide(item, user_id=current_user.id, permissions=current_user.permissions)
        and now < item.expires_at,
        may_cancel=item.status is ApprovalStatus.PENDING and item.requested_by == current_user.id,
        decision_form=DecisionForm(),
        confirm_form=ConfirmForm(),
        secret=secret,
        people=_people(item),
    )


def _people(item: ApprovalRequest) -> dict[str, str]:
    """Who asked and who decided, by email (an API key by its masked display)."""
    db = uow().session
    found: dict[str, str] = {}
    for who in {item.requested_by, item.decided_by} - {None}:
        assert who is not None
        if who.startswith("usr_"):
            user = db.get(User, who)
            if user is not None:
                found[who] = user.email
        elif who.startswith("key_"):
            key = db.scalar(select(ApiKey).where(ApiKey.id == who))
            if key is not None:
                found[who] = f"API key {key.display}"
    return found


def decide(request_id: str) -> Response:
    form = DecisionForm()
    back = redirect(url_for("portal.approval", request_id=request_id), code=303)
    _get_visible(request_id)
    if not form.validate_on_submit():
        form_errors(form)
        return back
    db = uow().session
    if form.decline.data:
        return attempt(
            lambda: approvals.decline(
                db,
                ctx(),
                request_id=request_id,
                permissions=current_user.permissions,
                note=form.note.data or "",
            ),
            back,
            "Request declined.",
        )
    return attempt(
        lambda: approvals.approve(
            db, ctx(), request_id=request_id, permissions=current_user.permissions, note=form.note.data or ""
        ),
        back,
        lambda done: (
            "Approved and carried out."
            if done.status is ApprovalStatus.APPROVED
            else f"Approved, but it could not be carried out: {(done.result or {}).get('error', '')}"
        ),
    )


def cancel(request_id: str) -> Response:
    back = redirect(url_for("portal.approval", request_id=request_id), code=303)
    _get_visible(request_id)
    if not ConfirmForm().validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return back
    return attempt(
        lambda: approvals.cancel(uow().session, ctx(), request_id=request_id), back, "Request withdrawn."
    )


def _thresholds_text(settings: dict[str, object]) -> str:
    thresholds = settings.get("thresholds") or {}
    assert isinstance(thresholds, dict)
    return "\n".join(
        f"{currency} {money.to_decimal(int(amount), currency)}"
        for currency, amount in sorted(thresholds.items())
    )


def parse_thresholds(text: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in re.split(r"[\n,;]+", text or ""):
        part = part.strip()
        if not part:
            continue
        match = _THRESHOLD.match(part)
        if not match:
            raise InvalidInput(f"{part!r}: write an amount like EUR 100.00.", param="refund_thresholds")
        currency = money.validate_currency(match.group(1).upper(), param="refund_thresholds")
        found[currency] = money.from_decimal(
            Decimal(match.group(2).replace(",", ".")), currency, param="refund_thresholds"
        )
    return found


def policy_page() -> str | Response:
    db = uow().session
    current = approvals.policies(db)
    form = PolicyForm()
    if not form.is_submitted():
        form.refund.data = bool(current[approvals.REFUND].get("enabled"))
        form.refund_thresholds.data = _thresholds_text(current[approvals.REFUND])
        form.live_keys.data = bool(current[approvals.LIVE_SECRET_KEY].get("enabled"))
        form.roles.data = bool(current[approvals.ROLE_DEFINITION].get("enabled"))
        form.sso.data = bool(current[approvals.SSO_CONFIGURATION].get("enabled"))
        form.bank_account.data = bool(current[approvals.BANK_ACCOUNT].get("enabled"))
    elif form.validate_on_submit():
        back = redirect(url_for("portal.approval_policy"), code=303)

        def save() -> None:
            c = ctx()
            approvals.set_policy(
                db,
                c,
                kind_name=approvals.REFUND,
                enabled=bool(form.refund.data),
                thresholds=parse_thresholds(form.refund_thresholds.data or ""),
            )
            approvals.set_policy(
                db, c, kind_name=approvals.LIVE_SECRET_KEY, enabled=bool(form.live_keys.data)
            )
            approvals.set_policy(db, c, kind_name=approvals.ROLE_DEFINITION, enabled=bool(form.roles.data))
            approvals.set_policy(db, c, kind_name=approvals.SSO_CONFIGURATION, enabled=bool(form.sso.data))
            approvals.set_policy(
                db, c, kind_name=approvals.BANK_ACCOUNT, enabled=bool(form.bank_account.data)
            )

        return attempt(save, back, "Approval rules saved.")
    else:
        form_errors(form)
    return render_template("portal/approvals/policy.html", form=form, kinds=approvals.KINDS)
