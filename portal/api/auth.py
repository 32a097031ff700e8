"""Bearer secret-key authentication: resolves the tenant and binds it for the request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request

from core.audit.models import ActorType
from core.audit.service import Actor
from core.errors import AuthenticationFailed
from core.web.request import bind_tenant, client_ip, uow
from tenants.models import KeyKind, KeyMode
from tenants.resolution import owner_of_key


@dataclass(frozen=True)
class ApiCaller:
    tenant_id: str
    key_id: str
    livemode: bool

    def actor(self) -> Actor:
        return Actor(ActorType.API_KEY, self.key_id, origin_ip=client_ip(), request_id=g.get("request_id"))


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
    owner = owner_of_key(uow().session, key)
    if owner is None or owner.kind is not KeyKind.SECRET:
        raise AuthenticationFailed(
            "Invalid API key. Check it in the portal under Developers, or create a new one."
        )
    bind_tenant(owner.tenant_id)
    g.api_caller = ApiCaller(
        tenant_id=owner.tenant_id, key_id=owner.key_id, livemode=owner.mode is KeyMode.LIVE
    )


def caller() -> ApiCaller:
    current: ApiCaller = g.api_caller
    return current
