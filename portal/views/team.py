"""The team screens: members and invitations, custom roles, accepting an invitation, switching tenant.

Each view validates its form, calls one operation of tenants/team.py and redirects (303) back with a
message; the operations hold the rules (grant only what you hold, the last owner stays), and a refusal
of those rules is a 403 page whatever the form offered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from core.context import ActorType, Context
from core.errors import KassaError
from core.web.request import actor, bind_tenant, runtime, uow
from portal.views.session import SESSION_KEY, user_context
from portal.views.team_forms import (
    AcceptForm,
    ConfirmForm,
    InviteForm,
    MemberRoleForm,
    NewAccountForm,
    RoleForm,
    SwitchTenantForm,
    options,
)
from tenants import approvals, portal_sessions, team
from tenants import permissions as perms
from tenants.lookup import tenant_by_id
from tenants.models import Role
from tenants.permissions import Permission
from tenants.resolution import memberships_of


def ctx() -> Context:
    """The call edge of this request, acting as the signed-in member."""
    return user_context()


def granter() -> team.Granter:
    return team.Granter(user_id=current_user.id, role=current_user.role, permissions=current_user.permissions)


def attempt(action: Callable[[], Any], back: Response, success: str | Callable[[Any], str]) -> Response:
    """Run one operation: a refused input or conflict (4xx but 403/404) becomes a message on the page it
    came from; a 403 or 404 is the error page (the rules refuse, whatever the UI offered)."""
    try:
        result = action()
    except KassaError as error:
        if error.status >= 500 or error.status in (403, 404):
            raise
        if not error.keeps_effects:  # else what happened stands, and commits with the redirect
            uow().rollback()
        flash(error.message, "error")
        return back
    flash(success(result) if callable(success) else success, "success")
    return back


def form_errors(form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")


def role_choices() -> list[SelectChoice]:
    """The roles the signed-in member may grant: built-in and custom ones whose permissions they hold."""
    held = current_user.permissions
    choices = [
        (r.value, r.value)
        for r in Role
        if perms.permissions_of(r) <= held and (r is not Role.OWNER or current_user.role is Role.OWNER)
    ]
    choices += [
        (c.id, f"{c.name} (custom)")
        for c in team.list_roles(uow().session)
        if perms.of_key(c.permissions) <= held
    ]
    return options(choices)


def team_page() -> str:
    db = uow().session
    now = runtime().clock.now()
    members = team.list_members(db)
    choices = role_choices()
    invite_form = InviteForm()
    invite_form.role.choices = choices
    invite_form.role.data = invite_form.role.data or "viewer"
    held = current_user.permissions
    rows = []
    for member in members:
        editable = member.permissions <= held and (
            member.membership.role is not Role.OWNER
            or member.membership.custom_role_id is not None
            or current_user.role is Role.OWNER
        )
        role_form = MemberRoleForm(prefix=member.membership.id)
        role_form.role.choices = choices
        role_form.role.data = member.membership.custom_role_id or str(member.membership.role)
        rows.append({"member": member, "editable": editable, "role_form": role_form})
    return render_template(
        "portal/team/index.html",
        rows=rows,
        invitations=team.open_invitations(db, now=now),
        invitation_role=lambda i: team.role_name_of_invitation(db, i),
        invite_form=invite_form,
        confirm_form=ConfirmForm(),
    )


def invite() -> Response:
    form = InviteForm()
    form.role.choices = role_choices()
    back = redirect(url_for("portal.team"), code=303)
    if not form.validate_on_submit():
        form_errors(form)
        return back
    return attempt(
        lambda: team.invite(
            uow().session, ctx(), email=form.email.data, role=form.role.data, granter=granter()
        ),
        back,
        lambda inv: f"Invitation sent to {inv.email}.",
    )


def change_role(membership_id: str) -> Response:
    form = MemberRoleForm(prefix=membership_id)
    back = redirect(url_for("portal.team"), code=303)
    if not form.validate_on_submit():
        form_errors(form)
        return back
    return attempt(
        lambda: team.change_role(
            uow().session, ctx(), membership_id=membership_id, role=form.role.data, granter=granter()
        ),
        back,
        "Role changed.",
    )


def remove_member(membership_id: str) -> Response:
    back = redirect(url_for("portal.team"), code=303)
    if not ConfirmForm().validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return back
    return attempt(
        lambda: team.remove_member(uow().session, ctx(), membership_id=membership_id, granter=granter()),
        back,
        "Member removed.",
    )


def revoke_invitation(invitation_id: str) -> Response:
    back = redirect(url_for("portal.team"), code=303)
    if not ConfirmForm().validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return back
    return attempt(
        lambda: team.revoke_invitation(uow().session, ctx(), invitation_id=invitation_id, granter=granter()),
        back,
        "Invitation withdrawn.",
    )


# -- custom roles ----------------------------------------------------------------------------------------


def _role_form(role_id: str | None) -> RoleForm:
    form = RoleForm()
    held = current_user.permissions
    # Only what the member holds is offered; the operation refuses the rest anyway (403).
    form.permissions.choices = options([(p.value, p.value) for p in Permission if p in held])
    return form


def roles_page() -> str:
    return render_template(
        "portal/team/roles.html",
        roles=team.list_roles(uow().session),
        confirm_form=ConfirmForm(),
        of_key=perms.of_key,
    )


def role_edit(role_id: str | None = None) -> str | Response:
    db = uow().session
    existing = team.get_role(db, role_id) if role_id else None
    form = _role_form(role_id)
    if form.is_submitted() is False and existing is not None:
        form.name.data = existing.name
        form.permissions.data = list(existing.permissions)
    if form.validate_on_submit():
        back = redirect(url_for("portal.roles"), code=303)
        return attempt(lambda: _save_role(role_id, form), back, _role_saved)
    if form.is_submitted():
        form_errors(form)
    return render_template("portal/team/role_edit.html", form=form, role=existing)


def _save_role(role_id: str | None, form: RoleForm) -> approvals.SubmitOutcome:
    db = uow().session
    chosen = perms.parse(form.permissions.data or [])
    g = granter()
    name = team.check_role_definition(db, role_id=role_id, name=form.name.data, permissions=chosen, granter=g)
    params = {
        "role_id": role_id,
        "name": name,
        "permissions": sorted(p.value for p in chosen),
        "granter": {
            "user_id": g.user_id,
            "role": str(g.role),
            "permissions": sorted(p.value for p in g.permissions),
        },
    }
    return approvals.submit_or_run(
        db,
        ctx(),
        kind_name=approvals.ROLE_DEFINITION,
        params=params,
        summary=f"{'Change' if role_id else 'Create'} role {name!r}: {', '.join(params['permissions'])}",
        reason=form.reason.data or "",
        requester=approvals.Requester(ActorType.USER, current_user.id, current_user.permissions),
    )


def _role_saved(outcome: approvals.SubmitOutcome) -> str:
    if outcome.request is not None:
        return f"Saving this role needs a second person's approval: request {outcome.request.id} is pending."
    return "Role saved."


def role_delete(role_id: str) -> Response:
    back = redirect(url_for("portal.roles"), code=303)
    if not ConfirmForm().validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return back
    return attempt(
        lambda: team.delete_role(uow().session, ctx(), role_id=role_id, granter=granter()),
        back,
        "Role deleted.",
    )


# -- accepting an invitation (signed out, in any browser) --------------------------------------------------


def accept(token: str) -> str | Response | tuple[str, int]:
    db = uow().session
    tenant_id = team.tenant_of_invitation(db, token)
    if tenant_id is None:
        return render_template(
            "portal/team/invitation.html", problem="This invitation link is not valid."
        ), 404
    bind_tenant(tenant_id)
    rt = runtime()
    try:
        found = team.find_invitation(db, token=token, now=rt.clock.now())
    except KassaError as error:
        return render_template("portal/team/invitation.html", problem=error.message), error.status
    form = AcceptForm() if found.has_account else NewAccountForm()
    if form.validate_on_submit():
        # Nobody is signed in: the acceptance is recorded as the invitation until the account is known.
        call = rt.context(uow(), actor(ActorType.USER, found.invitation.id))
        try:
            team.accept_invitation(db, call, token=token, password=form.password.data)
        except KassaError as error:
            if error.keeps_effects or error.status >= 500:
                raise
            uow().rollback()
            form.password.errors.append(error.message)
            return render_template("portal/team/invitation.html", found=found, form=form), 400
        session.clear()
        flash(f"You joined {found.tenant_name}. Sign in to continue.", "success")
        return redirect(url_for("portal.login"), code=303)
    return render_template("portal/team/invitation.html", found=found, form=form)


# -- switching tenant ------------------------------------------------------------------------------------


def switch_tenant() -> Response:
    form = SwitchTenantForm()
    if not form.validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return redirect(url_for("portal.home"), code=303)
    target = form.tenant_id.data
    mine = {tenant_id for tenant_id, _ in memberships_of(uow().session, current_user.id)}
    if target not in mine:
        abort(404)  # not one of yours: as if it did not exist
    from core.audit import actions
    from core.audit import service as audit
    from core.audit.service import Ref

    portal_sessions.switch_tenant(uow().session, token=session[SESSION_KEY], tenant_id=target)
    bind_tenant(target)
    audit.record(
        uow().session,
        ctx(),
        actions.PORTAL_TENANT_SWITCHED,
        subject=Ref("user", current_user.id, target),
        details={"from": current_user.tenant_id},
    )
    tenant = tenant_by_id(uow().session, target)
    flash(f"You are now working in {tenant.name if tenant else target}.", "success")
    return redirect(url_for("portal.home"), code=303)


def header_context() -> dict[str, object]:
    """The tenant switcher and the approvals count in the header of every signed-in page."""
    if not current_user.is_authenticated:
        return {}
    db = uow().session
    tenants = []
    for tenant_id, _role in memberships_of(db, current_user.id):
        tenant = tenant_by_id(db, tenant_id)
        if tenant is not None:
            tenants.append(tenant)
    current = next((t for t in tenants if t.id == current_user.tenant_id), None)
    return {
        "member_tenants": tenants,
        "current_tenant": current,
        "switch_form": SwitchTenantForm(),
        "pending_approvals": approvals.pending_count(db, ctx()),
    }
