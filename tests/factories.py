"""Test data built through the real services (so every row is audited like production's).

factory-boy factories whose `_create` calls the services instead of inserting rows; `tests.fixtures`
binds them to the test's runtime as `make.tenants`, `make.sessions`, `make.payments`, `make.refunds` and
`make.events`. A test that needs a paid payment to refund says `make.payments(tenant=t)`, not the hosted
page and the API: those have tests of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import factory
import pyotp
from sqlalchemy import select

from core.context import Actor, ActorType
from core.events.models import Event
from core.jobs.runtime import Runtime
from core.payments.models import CheckoutSession, Payment, Refund
from tenants.models import ApiKey, Tenant, User
from tenants.service import IssuedKeys, create_tenant, create_user, hash_key

PASSWORD = "correct horse battery staple"
#: The shopper every factory-made payment comes from.
SHOPPER = Actor(ActorType.SHOPPER, "shopper", origin_ip="203.0.113.7")


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


class _ThroughServices(factory.Factory):  # type: ignore[misc]
    """A factory-boy factory whose rows are made by the real services, in a unit of work of the runtime
    `rt` (so they are audited, evented and queued like production's). Only `create` exists: a row that
    skipped the services (`build`) would be one production can never have."""

    class Meta:
        abstract = True

    rt: Runtime | None = None

    @classmethod
    def _build(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{cls.__name__} makes its rows through the services: call create (make.<kind>()).")


def _api_actor(rt: Runtime, tenant: MadeTenant) -> Actor:
    """The actor the API records for `tenant`'s test secret key (a factory acts as the merchant's server)."""
    key_hash = hash_key(tenant.keys.secret_key)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        key_id = uow.session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash))
    assert key_id is not None, f"{tenant.id} has no key {tenant.keys.secret_key[:8]}…"
    return Actor(ActorType.API_KEY, key_id, origin_ip="198.51.100.1")


class TenantFactory(_ThroughServices):
    """A tenant with test keys and an owner (password `PASSWORD`, a TOTP seed), via `create_tenant` and
    `create_user`."""

    class Meta:
        model = MadeTenant

    name = factory.Sequence(lambda n: f"Shop {n + 1}")
    slug = factory.Sequence(lambda n: f"shop-{n + 1}")
    country = "DE"
    currency = "EUR"
    owner_email = factory.LazyAttribute(lambda o: f"owner@{o.slug}.example")
    password = PASSWORD
    totp_secret = factory.LazyFunction(lambda: pyotp.random_base32(32))
    role = "owner"

    @classmethod
    def _create(cls, model_class: type[MadeTenant], *, rt: Runtime, **f: Any) -> MadeTenant:
        with rt.db.unit_of_work() as uow:
            tenant, keys = create_tenant(
                uow.session,
                rt.context(uow, Actor.system("test")),
                name=f["name"],
                slug=f["slug"],
                country=f["country"],
                currency=f["currency"],
            )
            owner = create_user(
                uow.session,
                rt.context(uow, Actor.system("test")),
                tenant_id=tenant.id,
                email=f["owner_email"],
                role=f["role"],
                password=f["password"],
                totp_secret=f["totp_secret"],
            )
        return model_class(
            tenant=tenant, keys=keys, owner=owner, owner_email=owner.email, totp_secret=f["totp_secret"]
        )


class CheckoutSessionFactory(_ThroughServices):
    """An open checkout session of `tenant`, made like `POST /api/v1/checkout/sessions` makes it (the
    tenant's checkout settings, its test key as the actor). Any other keyword is a field of the API's
    body: `make.sessions(tenant=t, capture="manual", customer_email="ann@example.com")`."""

    class Meta:
        model = CheckoutSession

    tenant: MadeTenant | None = None
    livemode = False
    amount = 2500
    currency = factory.LazyAttribute(lambda o: o.tenant.tenant.default_currency)

    @classmethod
    def _create(
        cls, model_class: type, *, rt: Runtime, tenant: MadeTenant, livemode: bool, **body: Any
    ) -> CheckoutSession:
        from core.payments import sessions
        from tenants import checkout_settings

        actor = _api_actor(rt, tenant)
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            ctx = checkout_settings.session_terms(uow.session, tenant_id=tenant.id, livemode=livemode)
            return sessions.create(uow.session, rt.context(uow, actor), terms=ctx, data=body)


class PaymentFactory(_ThroughServices):
    """A payment of `tenant`: a checkout session (or the given `session`), the shopper's confirm through
    `core.payments.service.confirm`, then processing, as production does it. The outcome is checked, so a
    factory that stops delivering what it says fails loudly:

    - `make.payments(tenant=t)`: succeeded (the real RQ worker ran the processing job);
    - `make.payments(tenant=t, failed=True)`: declined by the sandbox (its documented declining card);
    - `make.payments(tenant=t, authorized=True)`: a manual-capture session, authorized, not captured;
    - `make.payments(tenant=t, pending=True)`: confirmed, its processing job queued and not yet run;
    - `via="service"`: processing by a direct `service.process` call (what the job runs) instead of the
      worker; any jobs processing queues (ledger, receipts) stay queued for the test's own `work(rt)`.

    Other keywords: `amount`, `capture`, `customer_email`, `card_number`, `method`, `postal_code`, …
    """

    class Meta:
        model = Payment

    class Params:
        failed = factory.Trait(card_number="4000000000000002", expect="failed")
        authorized = factory.Trait(capture="manual", expect="authorized")
        pending = factory.Trait(via=None, expect="pending")

    tenant: MadeTenant | None = None
    session: CheckoutSession | None = None
    amount = 2500
    capture = "automatic"
    customer_email: str | None = None
    method = "card"
    card_number = "4242 4242 4242 4242"
    postal_code: str | None = None
    via: str | None = "worker"
    expect = "succeeded"

    @classmethod
    def _create(
        cls,
        model_class: type,
        *,
        rt: Runtime,
        tenant: MadeTenant,
        session: CheckoutSession | None,
        amount: int,
        capture: str,
        customer_email: str | None,
        via: str | None,
        expect: str,
        **entered: Any,
    ) -> Payment:
        from core.payments import service
        from tests.payments_helpers import load, work_until_settled

        if session is None:
            session = CheckoutSessionFactory.create(rt=rt, tenant=tenant, amount=amount, capture=capture)
        data = service.PaymentInput(
            method=entered.pop("method"),
            card_number=entered.pop("card_number"),
            exp_month=entered.pop("exp_month", 12),
            exp_year=entered.pop("exp_year", 2034),
            cvc=entered.pop("cvc", "123"),
            client_ip=entered.pop("client_ip", "203.0.113.7"),
            customer_email=customer_email,
            postal_code=entered.pop("postal_code"),
            country=entered.pop("country", tenant.tenant.country),
        )
        if entered:
            raise TypeError(f"PaymentFactory: unknown fields {sorted(entered)}")
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            payment_id = service.confirm(
                uow.session,
                rt.context(uow, SHOPPER),
                tenant_id=tenant.id,
                session_id=session.id,
                data=data,
            ).id
        if via == "worker":
            payment = work_until_settled(rt, tenant, payment_id)
        elif via == "service":
            with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
                service.process(
                    uow.session,
                    rt.context(uow, Actor.system("worker")),
                    tenant_id=tenant.id,
                    payment_id=payment_id,
                    processor_for=rt.processor,
                )
            payment = load(rt, tenant, payment_id)
        elif via is None:
            payment = load(rt, tenant, payment_id)
        else:
            raise ValueError(f"via must be 'worker', 'service' or None; got {via!r}")
        assert str(payment.status) == expect, (
            f"PaymentFactory made a {payment.status} payment, not {expect}: {payment.failure_code}"
        )
        return payment


class RefundFactory(_ThroughServices):
    """A refund through `core.payments.service.refund` (the API's path: the tenant's test key as actor, the
    sandbox processor). `payment` defaults to a new succeeded one of `tenant`; `amount=None` refunds what
    is left."""

    class Meta:
        model = Refund

    tenant: MadeTenant | None = None
    payment: Payment | None = None
    amount: int | None = None
    reason: str | None = None

    @classmethod
    def _create(
        cls,
        model_class: type,
        *,
        rt: Runtime,
        tenant: MadeTenant,
        payment: Payment | None,
        amount: int | None,
        reason: str | None,
    ) -> Refund:
        from core.payments import service

        if payment is None:
            payment = PaymentFactory.create(rt=rt, tenant=tenant)
        actor = _api_actor(rt, tenant)
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            return service.refund(
                uow.session,
                rt.context(uow, actor),
                payment_id=payment.id,
                amount=amount,
                reason=reason,
                processor=rt.processor(payment.livemode),
            )


class EventFactory(_ThroughServices):
    """One more event on an object's stream through `core.events.emit`, under the object's row
    lock as every emitter holds it (so its sequence follows the last), carrying the object as the API
    shows it: `make.events(tenant=t, subject=payment, type="payment.succeeded")`. Events otherwise come
    with the state changes the other factories make; this one is for tests of event listing and ordering
    that need many. `type` is required: one of the types the services emit (docs/api.md)."""

    class Meta:
        model = Event

    tenant: MadeTenant | None = None
    subject: Payment | CheckoutSession | Refund | None = None
    type: str | None = None

    @classmethod
    def _create(
        cls,
        model_class: type,
        *,
        rt: Runtime,
        tenant: MadeTenant,
        subject: Payment | CheckoutSession | Refund,
        type: str | None,
    ) -> Event:
        from core import events
        from core.events import EventType
        from core.payments import serialize, service, sessions

        if type is None:
            raise TypeError("EventFactory needs type=, e.g. 'payment.succeeded'")
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            ctx = rt.context(uow, Actor.system("test"))
            if isinstance(subject, Payment):
                payment = service.get(uow.session, payment_id=subject.id, lock=True)
                return events.emit(
                    uow.session, ctx, EventType(type), subject=payment, data=serialize.payment(payment)
                )
            if isinstance(subject, CheckoutSession):
                cs = sessions.get(uow.session, session_id=subject.id, lock=True)
                data = serialize.checkout_session(cs, base_url=rt.settings.base_url)
                return events.emit(uow.session, ctx, EventType(type), subject=cs, data=data)
            payment = service.get(uow.session, payment_id=subject.payment_id, lock=True)  # as refunds do
            refund = service.get_refund(uow.session, refund_id=subject.id)
            return events.emit(
                uow.session,
                ctx,
                EventType(type),
                subject=refund,
                data=serialize.refund(refund),
                livemode=payment.livemode,
            )


class Builder:
    """A factory bound to a runtime: `make.payments(tenant=t, failed=True)`, `make.payments.batch(3, ...)`."""

    def __init__(self, factory_class: type[_ThroughServices], rt: Runtime) -> None:
        self.factory_class = factory_class
        self.rt = rt

    def __call__(self, **fields: Any) -> Any:
        return self.factory_class.create(rt=self.rt, **fields)

    def batch(self, size: int, **fields: Any) -> list[Any]:
        return list(self.factory_class.create_batch(size, rt=self.rt, **fields))


def seed_every_table(rt: Runtime, tenant: MadeTenant) -> None:
    """Put at least one row in every tenant-owned table for `tenant`, through the real services (the
    row-level security tests need rows of two tenants in each table)."""
    import requests
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from core import idempotency
    from core.jobs.queues import QUEUE_NAMES
    from core.ledger import service as ledger
    from core.links import service as links
    from core.locality import service as locality
    from core.payments import service, sessions
    from core.risk import service as risk
    from core.webhooks import service as webhooks
    from tenants import checkout_settings, sso
    from tests.branding_images import data_url, png
    from tests.payments_helpers import SHOPPER

    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = sessions.SessionTerms(
            tenant_id=tenant.id,
            livemode=False,
            allowed_methods=["card", "wallet", "bank"],
        )
        cs = sessions.create(
            uow.session, rt.context(uow, SHOPPER), terms=ctx, data={"amount": 4000, "currency": "EUR"}
        )
        payment = service.confirm(
            uow.session,
            rt.context(uow, SHOPPER),
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
            rt.context(uow, SHOPPER),
            tenant_id=tenant.id,
            livemode=False,
            data={"amount": 900, "currency": "EUR"},
        )
        locality.create(
            uow.session,
            rt.context(uow, SHOPPER),
            tenant_id=tenant.id,
            livemode=False,
            data={"country": "*", "amount_limits": [{"currency": "EUR", "max": 1_000_000}]},
        )
        sso.configure(  # an sso_providers row (off: no provider is asked)
            uow.session,
            rt.context(uow, SHOPPER),
            tenant_id=tenant.id,
            settings=sso.SsoSettings(
                issuer="https://login.example.com",
                client_id="kassa",
                client_secret="seed-client-secret",
                allowed_domains=("example.com",),
                display_name="Example",
                enabled=False,
                required=False,
            ),
            acting_email=None,
            http=requests.Session(),
        )
        checkout_settings.update(  # a tenant_logos row
            uow.session,
            rt.context(uow, SHOPPER),
            tenant_id=tenant.id,
            livemode=False,
            changes={"logo": data_url(png())},
        )
        # A webhook endpoint and a delivery; the worker below refuses the loopback address (the suite keeps
        # the private-address block on), which logs an attempt without connecting anywhere.
        endpoint, _ = webhooks.create_endpoint(
            uow.session,
            rt.context(uow, SHOPPER),
            tenant_id=tenant.id,
            livemode=False,
            url="http://127.0.0.1:9/hooks",
            policy=webhooks.Policy(allow_private=True),
        )
        webhooks.send_test_event(uow.session, rt.context(uow, SHOPPER), endpoint_id=endpoint.id)
        from core.audit import queries as audit_queries

        audit_queries.verify_and_record(  # an audit_verifications row
            uow.session, rt.acting(Actor.system("test")), tenant_id=tenant.id
        )
    rt.relay()
    SimpleWorker([rt.queue(n) for n in QUEUE_NAMES], connection=rt.redis, serializer=JSONSerializer).work(
        burst=True
    )
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        service.refund(
            uow.session,
            rt.context(uow, SHOPPER),
            payment_id=payment_id,
            amount=1000,
            reason=None,
            processor=rt.processor(False),
        )
        # Notifications: one for the owner (a notification_recipients row) and the owner's preference.
        from core.notifications import service as notifications
        from core.notifications.kinds import Kind

        notify_ctx = rt.context(uow, SHOPPER)
        notifications.set_preferences(
            uow.session,
            notify_ctx,
            tenant_id=tenant.id,
            user_id=tenant.owner.id,
            permissions=frozenset({"payments:read"}),
            choices={Kind.DISPUTE_CREATED: (True, False)},
        )
        notifications.notify(
            uow.session,
            notify_ctx,
            tenant_id=tenant.id,
            kind=Kind.DISPUTE_CREATED,
            title="A payment was disputed",
            body="Seeded.",
            dedup_key=f"seed:{tenant.id}",
            livemode=False,
        )
        # The tenant's own alert thresholds (an alert_thresholds row).
        from core.notifications import alerts

        alerts.set_thresholds(
            uow.session,
            notify_ctx,
            tenant_id=tenant.id,
            values={"cooldown_minutes": "30"},
            updated_by=tenant.owner.id,
            defaults=alerts.Thresholds(),
        )
    _seed_team_and_approvals(rt, tenant)
    _seed_payouts_and_disputes(rt, tenant, payment_id)
    _seed_report_schedule(rt, tenant)


def _seed_payouts_and_disputes(rt: Runtime, tenant: MadeTenant, payment_id: str) -> None:
    """Settlement terms, a payout schedule, a bank account, a payout, a dispute with an evidence file and a
    reconciliation run with one difference (core/payouts, core/disputes)."""
    from core.disputes import service as disputes
    from core.ids import new_id
    from core.ledger import service as ledger
    from core.payments.models import Payment
    from core.payouts import bank_accounts, reconciliation
    from core.payouts import service as payouts

    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = rt.context(uow, Actor.system("test"))
        session = uow.session
        ledger.set_settlement_terms(session, tenant_id=tenant.id, clock=rt.clock, delay_days=2)
        payouts.set_schedule(session, ctx, tenant_id=tenant.id, currency="EUR", interval="manual")
        bank_accounts.add_bank_account(
            session,
            ctx,
            tenant_id=tenant.id,
            currency="EUR",
            account_holder="Seed GmbH",
            details=bank_accounts.validate(country="DE", iban="DE89370400440532013000"),
            requested_by=None,
        )
        reference = new_id("pay")
        ledger.record_capture(
            session,
            tenant_id=tenant.id,
            payment_id=reference,
            amount=5_000,
            currency="EUR",
            clock=rt.clock,
            available_at_once=True,
        )
        payouts.create_payout(session, ctx, tenant_id=tenant.id, currency="EUR", amount=1_000)
        payment = session.scalars(
            select(Payment).where(Payment.tenant_id == tenant.id, Payment.id == payment_id)
        ).one()
        dispute = disputes.open_dispute(session, ctx, payment=payment, reason="fraudulent")
        disputes.submit_evidence(
            session,
            ctx,
            tenant_id=tenant.id,
            dispute_id=dispute.id,
            fields={"uncategorized_text": "Seeded."},
            files=[("receipt.pdf", b"%PDF-1.4 seed")],
        )
        day = rt.clock.now().date()
        clean = reconciliation.sandbox_settlement_file(session, tenant_id=tenant.id, day=day)
        altered = clean + f"{day.isoformat()},capture,pay_unknown_{tenant.id},EUR,1\n"
        reconciliation.reconcile(session, ctx, tenant_id=tenant.id, day=day, text=altered)


def _seed_team_and_approvals(rt: Runtime, tenant: MadeTenant) -> None:
    """A custom role, an invitation, an approval policy and a pending approval request (tenants/team.py,
    tenants/approvals.py)."""
    from tenants import approvals, team
    from tenants.models import Role
    from tenants.permissions import Permission

    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        owner_id = uow.session.scalar(select(User.id).where(User.email == tenant.owner_email))
        assert owner_id is not None
        ctx = rt.context(uow, Actor(ActorType.USER, owner_id))
        granter = team.Granter(user_id=owner_id, role=Role.OWNER, permissions=frozenset(Permission))
        team.define_role(
            uow.session,
            ctx,
            role_id=None,
            name="Bookkeeper",
            permissions=frozenset({Permission.PAYMENTS_READ}),
            granter=granter,
        )
        team.invite(
            uow.session, ctx, email=f"invited@{tenant.tenant.slug}.example", role="viewer", granter=granter
        )
        approvals.set_policy(
            uow.session, ctx, kind_name=approvals.REFUND, enabled=True, thresholds={"EUR": 100}
        )
        approvals.submit(
            uow.session,
            ctx,
            kind_name=approvals.REFUND,
            params={"payment_id": "pay_x", "amount": 500, "currency": "EUR", "reason": None},
            summary="Refund €5.00",
            reason="seed",
            requester=approvals.Requester(ActorType.USER, owner_id, frozenset(Permission)),
        )


def _seed_report_schedule(rt: Runtime, tenant: MadeTenant) -> None:
    """A scheduled export and one file it made (core/reports/schedules.py)."""
    from core.reports import schedules

    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        owner_id = uow.session.scalar(select(User.id).where(User.email == tenant.owner_email))
        assert owner_id is not None
        ctx = rt.context(uow, Actor(ActorType.USER, owner_id))
        schedule = schedules.create(
            uow.session,
            ctx,
            livemode=False,
            kind="payments",
            period="last_7_days",
            frequency="daily",
            recipients=[owner_id],
            allowed_recipients={owner_id},
            created_by=owner_id,
        )
        schedules.produce(uow.session, ctx, schedule)
