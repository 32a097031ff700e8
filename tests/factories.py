"""Test data built through the real services (so every row is audited like production's)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pyotp

from core.audit.service import Actor
from core.jobs.runtime import Runtime
from tenants.models import Tenant, User
from tenants.service import IssuedKeys, create_tenant, create_user

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"


@dataclass
class MadeTenant:
    tenant: Tenant
    keys: IssuedKeys
    owner: User
    owner_email: str
    totp_secret: str

    @property
    def id(self) -> str:
        return self.tenant.id

    def code(self) -> str:
        return pyotp.TOTP(self.totp_secret).now()


class TenantFactory:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def __call__(self, *, name: str | None = None, country: str = "DE", currency: str = "EUR") -> MadeTenant:
        n = next(_counter)
        slug = f"shop-{n}"
        email = f"owner{n}@{slug}.example"
        secret = pyotp.random_base32(32)
        with self.rt.db.unit_of_work() as uow:
            tenant, keys = create_tenant(
                uow.session,
                name=name or f"Shop {n}",
                slug=slug,
                country=country,
                currency=currency,
                actor=Actor.system("test"),
                clock=self.rt.clock,
                kms=self.rt.kms,
            )
            owner = create_user(
                uow.session,
                tenant_id=tenant.id,
                email=email,
                role="owner",
                password=PASSWORD,
                totp_secret=secret,
                actor=Actor.system("test"),
                clock=self.rt.clock,
                kms=self.rt.kms,
            )
        return MadeTenant(tenant=tenant, keys=keys, owner=owner, owner_email=email, totp_secret=secret)
