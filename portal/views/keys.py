"""The API keys screen: publishable and secret keys of both modes, restricted keys, roll and revoke.

Reuses tenants/api_keys.py (the API's own operations). A new secret is shown once, on the page that
answers the create or roll (never stored, never in a redirect or a flash cookie). Creating or rolling a
live secret key may need a second person's approval (tenants/approvals.py); the secret is then shown
once to the requester on the approved request's page.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from core.context import ActorType
from core.errors import KassaError, PermissionDenied
from core.web.request import runtime, uow
from portal.views.team import ctx, form_errors
from portal.views.team_forms import ConfirmForm, CreateKeyForm, RollKeyForm
from tenants import api_keys, approvals, key_usage
from tenants import permissions as perms
from tenants.models import KeyKind, KeyMode
from tenants.service import issue_key_record


def _page(
    *, created: dict[str, str] | None = None, form: CreateKeyForm | None = None, status: int = 200
) -> tuple[str, int]:
    db = uow().session
    rt = runtime()
    now = rt.clock.now()
    keys = api_keys.list_keys(db, livemode=None)
    usage = key_usage.last_used(rt.redis, [k.id for k in keys])
    return (
        render_template(
            "portal/api_keys.html",
            keys=keys,
            status_of=lambda k: api_keys.status_of(k, now),
            permissions_of=lambda k: (
                perms.stored(api_keys.permissions_of(k)) if k.kind is KeyKind.SECRET else None
            ),
            usage=usage,
            create_form=form or CreateKeyForm(),
            roll_form=RollKeyForm(),
            confirm_form=ConfirmForm(),
            created=created,
        ),
        status,
    )


def keys_page() -> tuple[str, int]:
    return _page()


def _may_manage(key_id: str) -> None:
    # Nobody obtains (by a roll) or revokes a key that holds more than they do.
    record = api_keys.get_key(uow().session, key_id=key_id, livemode=None)
    if not api_keys.permissions_of(record) <= current_user.permissions and record.kind is KeyKind.SECRET:
        raise PermissionDenied(
            f"API key {key_id} holds permissions you do not; you cannot roll or revoke it."
        )


def _requester() -> approvals.Requester:
    return approvals.Requester(ActorType.USER, current_user.id, current_user.permissions)


def create_key() -> Response | tuple[str, int]:
    form = CreateKeyForm()
    if not form.validate_on_submit():
        form_errors(form)
        return redirect(url_for("portal.api_keys"), code=303)
    db = uow().session
    mode = KeyMode(form.mode.data)
    chosen = frozenset(perms.parse(form.permissions.data)) if form.permissions.data else None
    if chosen is not None and not chosen <= current_user.permissions:
        raise PermissionDenied("A key cannot hold permissions you do not hold yourself.")
    if chosen is None and perms.ALL - current_user.permissions:
        raise PermissionDenied("A full secret key holds every permission; choose the ones you hold.")
    try:
        if mode is KeyMode.LIVE:
            names = sorted(p.value for p in chosen) if chosen else None
            outcome = approvals.submit_or_run(
                db,
                ctx(),
                kind_name=approvals.LIVE_SECRET_KEY,
                params={"action": "create", "permissions": names},
                summary=f"Create a live {'restricted' if names else 'secret'} key"
                + (f" ({', '.join(names)})" if names else ""),
                reason=form.reason.data or "",
                requester=_requester(),
            )
            if outcome.request is not None:
                flash(
                    "Creating a live secret key needs a second person's approval: request "
                    f"{outcome.request.id} "
                    "is pending. Its secret will be shown to you once, on the request's page.",
                    "success",
                )
                return redirect(url_for("portal.approval", request_id=outcome.request.id), code=303)
            assert outcome.result is not None
            secret, _ = _unseal(outcome.result)
            return _page(created={"id": outcome.result["key"], "secret": secret or ""}, status=201)
        if chosen:
            record, key = api_keys.create_restricted(
                db, ctx(), tenant_id=current_user.tenant_id, mode=mode, permissions=chosen
            )
        else:
            record, key = issue_key_record(
                db, ctx(), tenant_id=current_user.tenant_id, kind=KeyKind.SECRET, mode=mode
            )
    except KassaError as error:
        if error.keeps_effects or error.status >= 500 or error.status in (403, 404):
            raise
        uow().rollback()
        flash(error.message, "error")
        return redirect(url_for("portal.api_keys"), code=303)
    return _page(created={"id": record.id, "secret": key}, status=201)


def _unseal(result: dict[str, object]) -> tuple[str | None, dict[str, object]]:
    from tenants.approval_actions import reveal_secret

    return reveal_secret(ctx(), dict(result))


def roll_key(key_id: str) -> Response | tuple[str, int]:
    form = RollKeyForm()
    if not form.validate_on_submit():
        form_errors(form)
        return redirect(url_for("portal.api_keys"), code=303)
    _may_manage(key_id)
    db = uow().session
    record = api_keys.get_key(db, key_id=key_id, livemode=None)
    try:
        overlap = api_keys.overlap_from_seconds(int(form.overlap.data or "0"))
        if record.mode is KeyMode.LIVE and record.kind is KeyKind.SECRET:
            outcome = approvals.submit_or_run(
                db,
                ctx(),
                kind_name=approvals.LIVE_SECRET_KEY,
                params={
                    "action": "roll",
                    "key_id": record.id,
                    "overlap_seconds": int(overlap.total_seconds()),
                },
                summary=f"Roll live secret key {record.display} ({record.id})",
                reason=form.reason.data or "",
                requester=_requester(),
            )
            if outcome.request is not None:
                flash(
                    f"Rolling a live secret key needs approval: request {outcome.request.id} is pending.",
                    "success",
                )
                return redirect(url_for("portal.approval", request_id=outcome.request.id), code=303)
            assert outcome.result is not None
            secret, _ = _unseal(outcome.result)
            return _page(created={"id": str(outcome.result["key"]), "secret": secret or ""}, status=201)
        rolled = api_keys.roll(db, ctx(), key_id=key_id, livemode=None, overlap=overlap)
    except KassaError as error:
        if error.keeps_effects or error.status >= 500 or error.status in (403, 404):
            raise
        uow().rollback()
        flash(error.message, "error")
        return redirect(url_for("portal.api_keys"), code=303)
    return _page(created={"id": rolled.new.id, "secret": rolled.key}, status=201)


def revoke_key(key_id: str) -> Response:
    back = redirect(url_for("portal.api_keys"), code=303)
    if not ConfirmForm().validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return back
    _may_manage(key_id)
    record = api_keys.revoke(uow().session, ctx(), key_id=key_id, livemode=None)
    flash(f"Key {record.display} revoked: every use of it is refused from now on.", "success")
    return back
