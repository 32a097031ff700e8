"""A tenant's team: members and their roles, custom roles, and invitations by email.

Rules every operation here keeps, whoever calls it (portal, CLI, tests):

- A member acts with the permissions of their role: a built-in one (`ROLE_PERMISSIONS`) or a custom role of
  the tenant (a set of permissions from the catalogue).
- Nobody grants what they do not hold: inviting someone, giving a member a role and defining a custom role
  are refused when the role holds a permission the granter lacks. Changing or removing a member who holds
  a permission the granter lacks is refused too (a support agent cannot demote an admin).
- Only an owner makes, changes or removes an owner, and the last owner can be neither removed nor demoted.
- An invitation is a link with a 256-bit token from the OS random source, emailed through the outbox. Only
  its SHA-256 is kept for the lookup (the token is sealed under the KMS until the mail job has sent it),
  it works once, and it expires after `INVITATION_LIFETIME`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.context import ActorType, Context
from core.db import get_by_id
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.geo import is_email
from core.ids import new_id
from tenants import permissions as perms
from tenants import service as accounts
from tenants.models import CustomRole, Invitation, Membership, PortalSession, Role, Tenant, User
from tenants.permissions import Permission

INVITATION_LIFETIME: Final = timedelta(days=7)
#: The mail job (tenants/notifications.py), named: the outbox stores a job's name.
INVITATION_JOB: Final = "tenants.notifications.send_invitation"
MAX_ROLE_NAME: Final = 60


@dataclass(frozen=True)
class Granter:
    """Who is changing the team: their user id, built-in role and the permissions they hold."""

    user_id: str
    role: Role
    permissions: frozenset[Permission]


@dataclass(frozen=True)
class Member:
    membership: Membership
    email: str
    #: "owner", "support" or a custom role's name.
    role_name: str
    permissions: frozenset[Permission]


# -- permissions of a membership ------------------------------------------------------------------------


def permissions_of(session: Session, membership: Membership) -> frozenset[Permission]:
    """What a member may do: their custom role's permissions, else their built-in role's."""
    if membership.custom_role_id is not None:
        role = session.get(CustomRole, (membership.tenant_id, membership.custom_role_id))
        return perms.of_key(role.permissions) if role is not None else frozenset()
    return perms.permissions_of(membership.role)


def role_name(session: Session, membership: Membership) -> str:
    if membership.custom_role_id is not None:
        role = session.get(CustomRole, (membership.tenant_id, membership.custom_role_id))
        return role.name if role is not None else "(deleted role)"
    return str(membership.role)


def _check_may_grant(granter: Granter, granted: frozenset[Permission], *, role: Role | None) -> None:
    missing = granted - granter.permissions
    if missing:
        names = ", ".join(sorted(p.value for p in missing))
        raise PermissionDenied(f"You cannot grant permissions you do not hold yourself: {names}.")
    if role is Role.OWNER and granter.role is not Role.OWNER:
        raise PermissionDenied("Only an owner can make someone an owner.")


def _resolve_role(session: Session, value: str) -> tuple[Role, str | None, frozenset[Permission]]:
    """A role choice from a form (`support`, or a custom role's id `role_…`): (built-in role kept in the
    row, custom role id, permissions)."""
    value = (value or "").strip()
    if value.startswith("role_"):
        custom = get_by_id(session, CustomRole, value, prefix="role", what="role")
        # The built-in column keeps the least privileged role: it is never read while a custom role is set.
        return Role.VIEWER, custom.id, perms.of_key(custom.permissions)
    try:
        role = Role(value)
    except ValueError:
        raise InvalidInput("Choose a role.", param="role") from None
    return role, None, perms.permissions_of(role)


# -- members ---------------------------------------------------------------------------------------------


def list_members(session: Session) -> list[Member]:
    rows = session.execute(
        select(Membership, User.email)
        .join(User, User.id == Membership.user_id)
        .order_by(Membership.created_at, Membership.id)
    ).all()
    return [
        Member(
            membership=m, email=email, role_name=role_name(session, m), permissions=permissions_of(session, m)
        )
        for m, email in rows
    ]


def _owners(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.role == Role.OWNER, Membership.custom_role_id.is_(None))
        )
        or 0
    )


def _is_owner(membership: Membership) -> bool:
    return membership.role is Role.OWNER and membership.custom_role_id is None


def _check_may_touch(session: Session, granter: Granter, target: Membership) -> None:
    if _is_owner(target) and granter.role is not Role.OWNER:
        raise PermissionDenied("Only an owner can change or remove an owner.")
    _check_may_grant(granter, permissions_of(session, target), role=None)


def change_role(
    session: Session, ctx: Context, *, membership_id: str, role: str, granter: Granter
) -> Membership:
    """Give a member another role (built-in or custom). The last owner keeps theirs."""
    target = get_by_id(session, Membership, membership_id, prefix="mem", what="member", lock=True)
    _check_may_touch(session, granter, target)
    new_role, custom_id, granted = _resolve_role(session, role)
    _check_may_grant(granter, granted, role=new_role if custom_id is None else None)
    before = role_name(session, target)
    if _is_owner(target) and (new_role is not Role.OWNER or custom_id is not None) and _owners(session) <= 1:
        raise Conflict(
            "This is the last owner of the account: make another member an owner first.", param="role"
        )
    target.role, target.custom_role_id = new_role, custom_id
    session.flush()
    audit.record(
        session,
        ctx,
        actions.MEMBERSHIP_ROLE_CHANGED,
        subject=target,
        details={"user_id": target.user_id, "from": before, "to": role_name(session, target)},
    )
    return target


def remove_member(session: Session, ctx: Context, *, membership_id: str, granter: Granter) -> None:
    """Remove a member from the tenant; their sessions acting for it end. The last owner stays."""
    target = get_by_id(session, Membership, membership_id, prefix="mem", what="member", lock=True)
    _check_may_touch(session, granter, target)
    if _is_owner(target) and _owners(session) <= 1:
        raise Conflict("This is the last owner of the account: it cannot be removed.", param="id")
    details = {"user_id": target.user_id, "role": role_name(session, target)}
    audit.record(session, ctx, actions.MEMBERSHIP_REMOVED, subject=target, details=details)
    session.execute(
        update(PortalSession)
        .where(
            PortalSession.user_id == target.user_id,
            PortalSession.active_tenant == target.tenant_id,
            PortalSession.revoked_at.is_(None),
        )
        .values(revoked_at=ctx.clock.now(), revoked_reason="membership_removed")
    )
    session.delete(target)
    session.flush()


# -- custom roles ----------------------------------------------------------------------------------------


def list_roles(session: Session) -> list[CustomRole]:
    return list(session.scalars(select(CustomRole).order_by(CustomRole.name)))


def get_role(session: Session, role_id: str) -> CustomRole:
    return get_by_id(session, CustomRole, role_id, prefix="role", what="role")


def _valid_name(session: Session, name: str, *, except_id: str | None) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_ROLE_NAME:
        raise InvalidInput(f"Give the role a name (at most {MAX_ROLE_NAME} characters).", param="name")
    if name.lower() in {r.value for r in Role}:
        raise InvalidInput(f"{name!r} is a built-in role; choose another name.", param="name")
    clash = session.scalar(
        select(CustomRole.id).where(
            func.lower(CustomRole.name) == name.lower(), CustomRole.id != (except_id or "")
        )
    )
    if clash is not None:
        raise Conflict(f"A role named {name!r} exists already.", param="name")
    return name


def check_role_definition(
    session: Session, *, role_id: str | None, name: str, permissions: frozenset[Permission], granter: Granter
) -> str:
    """Validate a role definition before it is carried out or held for approval; the cleaned name."""
    if role_id is not None:
        get_by_id(session, CustomRole, role_id, prefix="role", what="role")
    cleaned = _valid_name(session, name, except_id=role_id)
    if not permissions:
        raise InvalidInput("Choose at least one permission.", param="permissions")
    _check_may_grant(granter, permissions, role=None)
    return cleaned


def define_role(
    session: Session,
    ctx: Context,
    *,
    role_id: str | None,
    name: str,
    permissions: frozenset[Permission],
    granter: Granter,
) -> CustomRole:
    """Create a custom role (`role_id` None) or replace an existing one's name and permissions."""
    name = check_role_definition(
        session, role_id=role_id, name=name, permissions=permissions, granter=granter
    )
    now = ctx.clock.now()
    stored = sorted(p.value for p in permissions)
    if role_id is None:
        role = CustomRole(
            tenant_id=_tenant(session),
            id=new_id("role"),
            name=name,
            permissions=stored,
            created_at=now,
            updated_at=now,
        )
        session.add(role)
        session.flush()
        audit.record(
            session, ctx, actions.ROLE_CREATED, subject=role, details={"name": name, "permissions": stored}
        )
        return role
    role = get_by_id(session, CustomRole, role_id, prefix="role", what="role", lock=True)
    before = {"name": role.name, "permissions": list(role.permissions)}
    role.name, role.permissions, role.updated_at = name, stored, now
    session.flush()
    audit.record(
        session,
        ctx,
        actions.ROLE_UPDATED,
        subject=role,
        details={"before": before, "name": name, "permissions": stored},
    )
    return role


def delete_role(session: Session, ctx: Context, *, role_id: str, granter: Granter) -> None:
    role = get_by_id(session, CustomRole, role_id, prefix="role", what="role", lock=True)
    _check_may_grant(granter, perms.of_key(role.permissions), role=None)
    in_use = session.scalar(
        select(func.count()).select_from(Membership).where(Membership.custom_role_id == role.id)
    )
    pending = session.scalar(
        select(func.count())
        .select_from(Invitation)
        .where(
            Invitation.custom_role_id == role.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    )
    if in_use or pending:
        raise Conflict(
            "Members or open invitations have this role: give them another role first.", param="id"
        )
    audit.record(session, ctx, actions.ROLE_DELETED, subject=role, details={"name": role.name})
    session.delete(role)
    session.flush()


def _tenant(session: Session) -> str:
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, str):
        raise RuntimeError("no tenant in context")
    return tenant_id


# -- invitations -----------------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_context(invitation_id: str) -> str:
    return f"invitation.token:{invitation_id}"


def invite(session: Session, ctx: Context, *, email: str, role: str, granter: Granter) -> Invitation:
    """Invite `email` with `role`; the link is emailed by a job written to the outbox in this transaction."""
    email = (email or "").strip().lower()
    if not is_email(email):
        raise InvalidInput("Enter a valid email address, like name@example.com.", param="email")
    new_role, custom_id, granted = _resolve_role(session, role)
    _check_may_grant(granter, granted, role=new_role if custom_id is None else None)
    user_id = accounts.user_id_for_email(session, email)
    if user_id is not None and session.scalar(select(Membership.id).where(Membership.user_id == user_id)):
        raise Conflict(f"{email} is already a member of this account.", param="email")
    now = ctx.clock.now()
    # Earlier open invitations of the same address stop working: the newest link is the only one.
    for earlier in session.scalars(
        select(Invitation).where(
            Invitation.email == email, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
        )
    ):
        earlier.revoked_at, earlier.token_encrypted = now, None
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        tenant_id=_tenant(session),
        id=new_id("inv"),
        email=email,
        role=new_role,
        custom_role_id=custom_id,
        token_hash=_token_hash(token),
        invited_by=granter.user_id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
        accepted_at=None,
        accepted_by=None,
        revoked_at=None,
    )
    invitation.token_encrypted = ctx.kms.encrypt(token.encode(), context=_token_context(invitation.id))
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        ctx,
        actions.INVITATION_CREATED,
        subject=invitation,
        details={"email": email, "role": role_name_of_invitation(session, invitation)},
    )
    ctx.jobs.enqueue(
        INVITATION_JOB,
        tenant_id=invitation.tenant_id,
        kwargs={"tenant_id": invitation.tenant_id, "invitation_id": invitation.id},
    )
    return invitation


def role_name_of_invitation(session: Session, invitation: Invitation) -> str:
    if invitation.custom_role_id is not None:
        role = session.get(CustomRole, (invitation.tenant_id, invitation.custom_role_id))
        return role.name if role is not None else "(deleted role)"
    return str(invitation.role)


def open_invitations(session: Session, *, now: datetime) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now
            )
            .order_by(Invitation.created_at)
        )
    )


def revoke_invitation(session: Session, ctx: Context, *, invitation_id: str, granter: Granter) -> Invitation:
    invitation = get_by_id(session, Invitation, invitation_id, prefix="inv", what="invitation", lock=True)
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at, invitation.token_encrypted = ctx.clock.now(), None
        session.flush()
        audit.record(
            session, ctx, actions.INVITATION_REVOKED, subject=invitation, details={"email": invitation.email}
        )
    return invitation


def sealed_token(invitation: Invitation, ctx: Context) -> str | None:
    """The link's token, for the mail job (None once sent or revoked)."""
    if invitation.token_encrypted is None:
        return None
    return ctx.kms.decrypt(invitation.token_encrypted, context=_token_context(invitation.id)).decode()


def tenant_of_invitation(session: Session, token: str) -> str | None:
    """Which tenant holds the invitation with this token (before any tenant is in context), or None."""
    if not token or len(token) > 200:
        return None
    digest = _token_hash(token)
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(text("SELECT kassa_invitation_tenant(:h)"), {"h": digest}).scalar()
        return str(value) if value else None
    return session.scalar(
        select(Invitation.tenant_id)
        .where(Invitation.token_hash == digest)
        .execution_options(kassa_unscoped=True)
    )


@dataclass(frozen=True)
class OpenInvitation:
    invitation: Invitation
    tenant_name: str
    role_name: str
    #: The invited address already has a Kassa account (accepting asks for its password).
    has_account: bool


class InvitationUnusable(Conflict):
    code = "invitation_unusable"


def find_invitation(session: Session, *, token: str, now: datetime) -> OpenInvitation:
    """The usable invitation behind a link (the session bound to its tenant); else InvitationUnusable or
    NotFound, each with a message that says what to do."""
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == _token_hash(token)))
    if invitation is None:
        raise NotFound("This invitation link is not valid. Ask for a new invitation.")
    if invitation.accepted_at is not None:
        raise InvitationUnusable("This invitation was used already. Sign in instead.")
    if invitation.revoked_at is not None:
        raise InvitationUnusable("This invitation was withdrawn. Ask for a new invitation.")
    if now >= invitation.expires_at:
        raise InvitationUnusable("This invitation has expired. Ask for a new invitation.")
    tenant = session.get(Tenant, invitation.tenant_id)
    return OpenInvitation(
        invitation=invitation,
        tenant_name=tenant.name if tenant is not None else "",
        role_name=role_name_of_invitation(session, invitation),
        has_account=accounts.user_id_for_email(session, invitation.email) is not None,
    )


def accept_invitation(session: Session, ctx: Context, *, token: str, password: str) -> User:
    """Join the invitation's tenant: a new account with `password`, or the existing account of the invited
    address, proven by its password. The invitation works once (its row is locked and marked)."""
    found = find_invitation(session, token=token, now=ctx.clock.now())
    invitation = session.scalar(
        select(Invitation).where(Invitation.id == found.invitation.id).with_for_update()
    )
    if invitation is None or invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise InvitationUnusable("This invitation was used already. Sign in instead.")
    if found.has_account:
        user = accounts.check_password(session, email=invitation.email, password=password)
        user = accounts.create_user(
            session,
            ctx,
            tenant_id=invitation.tenant_id,
            email=invitation.email,
            role=invitation.role,
            password=None,
            totp_secret=None,
        )
    else:
        accounts.validate_password(password)
        user = accounts.create_user(
            session,
            ctx,
            tenant_id=invitation.tenant_id,
            email=invitation.email,
            role=invitation.role,
            password=password,
            totp_secret=None,
        )
    if invitation.custom_role_id is not None:
        membership = session.scalar(select(Membership).where(Membership.user_id == user.id))
        if membership is not None:
            membership.custom_role_id = invitation.custom_role_id
    invitation.accepted_at, invitation.accepted_by, invitation.token_encrypted = (
        ctx.clock.now(),
        user.id,
        None,
    )
    session.flush()
    audit.record(
        session,
        ctx.acting_as(replace(ctx.actor, type=ActorType.USER, id=user.id)),
        actions.INVITATION_ACCEPTED,
        subject=invitation,
        details={"user_id": user.id, "new_account": not found.has_account},
    )
    return user
