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


def seed_every_table(rt: Runtime, tenant: MadeTenant) -> None:
    """Put at least one row in every tenant-owned table for `tenant`, through the real services (the
    row-level security tests need rows of two tenants in each table)."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from core import idempotency
    from core.jobs.queues import QUEUE_NAMES
    from core.ledger import service as ledger
    from core.links import service as links
    from core.locality import service as locality
    from core.payments import service, sessions
    from core.risk import service as risk
    from tenants import checkout_settings
    from tests.branding_images import data_url, png
    from tests.payments_helpers import SHOPPER

    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = sessions.SessionContext(
            tenant_id=tenant.id,
            livemode=False,
            base_url=rt.settings.base_url,
            allowed_methods=["card", "wallet", "bank"],
        )
        cs = sessions.create(
            uow.session,
            ctx=ctx,
            data={"amount": 4000, "currency": "EUR"},
            actor=SHOPPER,
            clock=rt.clock,
            kms=rt.kms,
        )
        svc = service.Services(
            redis=rt.redis, kms=rt.kms, clock=rt.clock, jobs=rt.sink(uow), base_url=rt.settings.base_url
        )
        payment = service.confirm(
            uow.session,
            tenant_id=tenant.id,
            session_id=cs.id,
            data=service.PaymentInput(
                method="card",
                card_number="4242424242424242",
                exp_month=12,
                exp_year=2035,
                cvc="123",
                postal_code="10115",
                country=tenant.tenant.country,
                customer_email="shopper@example.com",  # a receipts row, once the worker has run
            ),
            actor=SHOPPER,
            svc=svc,
        )
        payment_id = payment.id
        ledger.set_pricing(uow.session, tenant_id=tenant.id, percent_bps=100, fixed_amount=0, clock=rt.clock)
        risk.update_settings(uow.session, tenant_id=tenant.id, changes={"max_amount": 5_000_000})
        risk.add_block(
            uow.session, tenant_id=tenant.id, kind="email", value="fraud@example.com", clock=rt.clock
        )
        idempotency.claim(
            uow.session,
            tenant_id=tenant.id,
            livemode=False,
            key=f"seed-{tenant.id}",
            fingerprint="f" * 64,
            clock=rt.clock,
        )
        links.create(
            uow.session,
            tenant_id=tenant.id,
            livemode=False,
            data={"amount": 900, "currency": "EUR"},
            base_url=rt.settings.base_url,
            actor=SHOPPER,
            clock=rt.clock,
            kms=rt.kms,
        )
        locality.create(
            uow.session,
            tenant_id=tenant.id,
            livemode=False,
            data={"country": "*", "amount_limits": [{"currency": "EUR", "max": 1_000_000}]},
            actor=SHOPPER,
            clock=rt.clock,
            kms=rt.kms,
        )
        checkout_settings.update(  # a tenant_logos row
            uow.session,
            tenant_id=tenant.id,
            livemode=False,
            changes={"logo": data_url(png())},
            actor=SHOPPER,
            clock=rt.clock,
            kms=rt.kms,
        )
    rt.relay()
    SimpleWorker([rt.queue(n) for n in QUEUE_NAMES], connection=rt.redis, serializer=JSONSerializer).work(
        burst=True
    )
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        svc = service.Services(
            redis=rt.redis, kms=rt.kms, clock=rt.clock, jobs=rt.sink(uow), base_url=rt.settings.base_url
        )
        service.refund(
            uow.session,
            payment_id=payment_id,
            amount=1000,
            reason=None,
            processor=rt.processor(False),
            actor=SHOPPER,
            svc=svc,
        )
