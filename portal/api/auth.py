"""Bearer secret-key authentication: resolves the tenant and binds it for the request.

A revoked key, or a rolled one past its overlap, is refused with 401 like an unknown key, and each such
use is recorded in its tenant's audit chain (committed on its own: the request itself is refused)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request

from core.context import Actor, ActorType, Context
from core.errors import AuthenticationFailed
from core.web.request import actor as request_actor
from core.web.request import bind_tenant, client_ip, context, runtime, uow
from tenants import api_keys, key_usage
from tenants.models import KeyKind, KeyMode
from tenants.permissions import Permission
from tenants.resolution import lookup_key_cached

#: What an unknown key is told: where a working key comes from (the CLI; the portal has no key pages yet).
INVALID_KEY = (
    "Invalid API key. Use the secret key (sk_test_…) that `kassa tenants create` printed for your "
    "account; if it is lost, an operator can replace it with `kassa keys roll --tenant <slug> --key <id>` "
    "(`kassa keys list --tenant <slug>` shows the ids)."
)


@dataclass(frozen=True)
class ApiCaller:
    tenant_id: str
    key_id: str
    livemode: bool
    #: What the key may do: every permission for a secret key, the chosen subset for a restricted one.
    permissions: frozenset[Permission] = frozenset()

    def actor(self) -> Actor:
        return request_actor(ActorType.API_KEY, self.key_id)

    def context(self) -> Context:
        """The call edge of this API request, acting as the key."""
        return context(self.actor())


def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationFailed(
            "No API key. Send your secret key as the header 'Authorization: Bearer sk_test_…'."
        )
    key = key.strip()
    if key.startswith("pk_"):
        raise AuthenticationFailed(
            "This is a publishable key, meant for the browser widget. "
            "Use your secret key (sk_…) on your server."
        )
    # Kept in process while the tenant's keys are unchanged; binds the key's tenant (below, again: free).
    owner = lookup_key_cached(uow().session, key, bind=bind_tenant)
    if owner is None or owner.kind is not KeyKind.SECRET:
        raise AuthenticationFailed(INVALID_KEY)
    rt = runtime()
    reason = owner.refusal(rt.clock.now())
    if reason is not None:
        uow().rollback()  # only the key was read; return the connection before taking another
        refused_by = request_actor(ActorType.API_KEY, owner.key_id)
        with rt.db.unit_of_work(tenant_id=owner.tenant_id) as audit_uow:
            api_keys.record_refused_use(
                audit_uow.session, rt.context(audit_uow, refused_by), owner=owner, reason=reason
            )
        raise AuthenticationFailed(api_keys.refusal_message(owner, reason))
    bind_tenant(owner.tenant_id)
    key_usage.record(rt.redis, key_id=owner.key_id, ip=client_ip(), now=rt.clock.now())
    g.api_caller = ApiCaller(
        tenant_id=owner.tenant_id,
        key_id=owner.key_id,
        livemode=owner.mode is KeyMode.LIVE,
        permissions=owner.permissions,
    )


def caller() -> ApiCaller:
    current: ApiCaller = g.api_caller
    return current
