"""API handlers: each takes the validated input, calls one service, answers JSON."""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import select

from core import money
from core.errors import NotFound, PermissionDenied
from core.geo import validate_country
from core.ids import has_prefix
from core.ledger import service as ledger
from core.links import service as links
from core.links.models import PaymentLink
from core.locality import service as locality
from core.locality.models import LocalityRule
from core.payments import serialize, service, sessions
from core.payments.models import CheckoutSession, Event, Payment, Refund
from core.web.request import runtime, uow
from portal.api.auth import caller
from portal.api.openapi import document
from portal.api.pagination import page
from portal.api.routing import json_response
from tenants import api_keys, checkout_settings
from tenants.lookup import tenant_by_id


def _services() -> service.Services:
    rt = runtime()
    return service.Services(
        redis=rt.redis, kms=rt.kms, clock=rt.clock, jobs=rt.sink(uow()), base_url=rt.settings.base_url
    )


def _same_mode(obj: Any, kind: str, object_id: str) -> Any:
    # Test keys see test objects and live keys live ones: the two never mix.
    if obj.livemode != caller().livemode:
        raise NotFound(f"No such {kind}: {object_id!r}.", param="id")
    return obj


def openapi() -> Response:
    return json_response(document())


# --- checkout settings ----------------------------------------------------------------------------------


def get_checkout_settings() -> Response:
    who = caller()
    return json_response(
        checkout_settings.view(uow().session, tenant_id=who.tenant_id, livemode=who.livemode)
    )


def patch_checkout_settings(body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    result = checkout_settings.update(
        uow().session,
        tenant_id=who.tenant_id,
        livemode=who.livemode,
        changes=body,
        actor=who.actor(),
        clock=rt.clock,
        kms=rt.kms,
    )
    return json_response(result)


# --- checkout sessions ----------------------------------------------------------------------------------


def create_session(body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    rt.processor(who.livemode)  # live keys without a live processor are refused before anything is made
    ctx = checkout_settings.session_context(
        uow().session, tenant_id=who.tenant_id, livemode=who.livemode, base_url=rt.settings.base_url
    )
    cs = sessions.create(uow().session, ctx=ctx, data=body, actor=who.actor(), clock=rt.clock, kms=rt.kms)
    return json_response(serialize.checkout_session(cs, base_url=rt.settings.base_url), 201)


def get_session(id: str) -> Response:
    rt = runtime()
    cs = _same_mode(sessions.get(uow().session, session_id=id), "checkout session", id)
    sessions.refresh_expiry(uow().session, cs, clock=rt.clock, base_url=rt.settings.base_url, kms=rt.kms)
    return json_response(serialize.checkout_session(cs, base_url=rt.settings.base_url))


def list_sessions(query: dict[str, Any]) -> Response:
    base_url = runtime().settings.base_url
    statement = select(CheckoutSession).where(CheckoutSession.livemode == caller().livemode)
    if "status" in query:
        statement = statement.where(CheckoutSession.status == query["status"])
    return json_response(
        page(
            uow().session,
            statement,
            id_column=CheckoutSession.id,
            params=query,
            render=lambda cs: serialize.checkout_session(cs, base_url=base_url),
        )
    )


def expire_session(id: str, body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    _same_mode(sessions.get(uow().session, session_id=id), "checkout session", id)
    cs = sessions.expire(
        uow().session,
        tenant_id=who.tenant_id,
        session_id=id,
        base_url=rt.settings.base_url,
        actor=who.actor(),
        clock=rt.clock,
        kms=rt.kms,
    )
    return json_response(serialize.checkout_session(cs, base_url=rt.settings.base_url))


# --- payments -------------------------------------------------------------------------------------------


def get_payment(id: str) -> Response:
    return json_response(
        serialize.payment(_same_mode(service.get(uow().session, payment_id=id), "payment", id))
    )


def list_payments(query: dict[str, Any]) -> Response:
    statement = select(Payment).where(Payment.livemode == caller().livemode)
    if "status" in query:
        statement = statement.where(Payment.status == query["status"])
    if "checkout_session" in query:
        statement = statement.where(Payment.checkout_session_id == query["checkout_session"])
    if "created_gte" in query:
        statement = statement.where(Payment.created_at >= _from_unix(query["created_gte"]))
    if "created_lte" in query:
        statement = statement.where(Payment.created_at <= _from_unix(query["created_lte"]))
    return json_response(
        page(uow().session, statement, id_column=Payment.id, params=query, render=serialize.payment)
    )


def _from_unix(value: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(value, tz=UTC)


def capture_payment(id: str, body: dict[str, Any]) -> Response:
    who = caller()
    _same_mode(service.get(uow().session, payment_id=id), "payment", id)
    payment = service.capture(
        uow().session,
        payment_id=id,
        amount=body.get("amount"),
        processor=runtime().processor(who.livemode),
        actor=who.actor(),
        svc=_services(),
    )
    return json_response(serialize.payment(payment))


def cancel_payment(id: str, body: dict[str, Any]) -> Response:
    who = caller()
    _same_mode(service.get(uow().session, payment_id=id), "payment", id)
    payment = service.cancel(
        uow().session,
        payment_id=id,
        processor=runtime().processor(who.livemode),
        actor=who.actor(),
        svc=_services(),
    )
    return json_response(serialize.payment(payment))


# --- refunds --------------------------------------------------------------------------------------------


def create_refund(body: dict[str, Any]) -> Response:
    who = caller()
    payment_id = body["payment"]
    if not has_prefix(payment_id, "pay"):
        raise NotFound(f"No such payment: {payment_id!r}.", param="payment")
    _same_mode(service.get(uow().session, payment_id=payment_id), "payment", payment_id)
    made = service.refund(
        uow().session,
        payment_id=payment_id,
        amount=body.get("amount"),
        reason=body.get("reason"),
        processor=runtime().processor(who.livemode),
        actor=who.actor(),
        svc=_services(),
    )
    return json_response(serialize.refund(made), 201)


def get_refund(id: str) -> Response:
    made = service.get_refund(uow().session, refund_id=id)
    _same_mode(service.get(uow().session, payment_id=made.payment_id), "refund", id)
    return json_response(serialize.refund(made))


def list_refunds(query: dict[str, Any]) -> Response:
    statement = (
        select(Refund)
        .join(Payment, (Payment.tenant_id == Refund.tenant_id) & (Payment.id == Refund.payment_id))
        .where(Payment.livemode == caller().livemode)
    )
    if "payment" in query:
        statement = statement.where(Refund.payment_id == query["payment"])
    return json_response(
        page(uow().session, statement, id_column=Refund.id, params=query, render=serialize.refund)
    )


# --- balance and events ---------------------------------------------------------------------------------


def get_balance() -> Response:
    if caller().livemode:
        # No live processor exists yet, so no live money has moved: the ledger holds test-mode money only.
        return json_response({"object": "balance", "available": [], "pending": [], "reserved": []})
    balances = ledger.balances(uow().session, tenant_id=caller().tenant_id)
    return json_response(
        {
            "object": "balance",
            "available": balances.available,
            "pending": balances.pending,
            "reserved": balances.reserved,
        }
    )


def get_event(id: str) -> Response:
    if not has_prefix(id, "evt"):
        raise NotFound(f"No such event: {id!r}.", param="id")
    event = uow().session.scalar(select(Event).where(Event.id == id))
    if event is None or event.livemode != caller().livemode:
        raise NotFound(f"No such event: {id!r}.", param="id")
    return json_response(serialize.event(event))


def list_events(query: dict[str, Any]) -> Response:
    statement = select(Event).where(Event.livemode == caller().livemode)
    if "type" in query:
        statement = statement.where(Event.type == query["type"])
    if "object" in query:
        statement = statement.where(Event.object_id == query["object"])
    return json_response(
        page(uow().session, statement, id_column=Event.id, params=query, render=serialize.event)
    )


# --- payment links --------------------------------------------------------------------------------------


def create_payment_link(body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    rt.processor(who.livemode)  # live keys without a live processor are refused before anything is made
    link = links.create(
        uow().session,
        tenant_id=who.tenant_id,
        livemode=who.livemode,
        data=body,
        base_url=rt.settings.base_url,
        actor=who.actor(),
        clock=rt.clock,
        kms=rt.kms,
    )
    return json_response(links.serialize(link, base_url=rt.settings.base_url), 201)


def get_payment_link(id: str) -> Response:
    link = _same_mode(links.get(uow().session, link_id=id), "payment link", id)
    return json_response(links.serialize(link, base_url=runtime().settings.base_url))


def update_payment_link(id: str, body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    _same_mode(links.get(uow().session, link_id=id), "payment link", id)
    link = links.update(
        uow().session,
        link_id=id,
        changes=body,
        base_url=rt.settings.base_url,
        actor=who.actor(),
        clock=rt.clock,
        kms=rt.kms,
    )
    return json_response(links.serialize(link, base_url=rt.settings.base_url))


def list_payment_links(query: dict[str, Any]) -> Response:
    base_url = runtime().settings.base_url
    statement = select(PaymentLink).where(PaymentLink.livemode == caller().livemode)
    if "active" in query:
        statement = statement.where(PaymentLink.active == (query["active"] == "true"))
    return json_response(
        page(
            uow().session,
            statement,
            id_column=PaymentLink.id,
            params=query,
            render=lambda link: links.serialize(link, base_url=base_url),
        )
    )


# --- locality rules -------------------------------------------------------------------------------------


def list_locality_rules(query: dict[str, Any]) -> Response:
    statement = select(LocalityRule).where(LocalityRule.livemode == caller().livemode)
    return json_response(
        page(uow().session, statement, id_column=LocalityRule.id, params=query, render=locality.serialize)
    )


def create_locality_rule(body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    rule = locality.create(
        uow().session,
        tenant_id=who.tenant_id,
        livemode=who.livemode,
        data=body,
        actor=who.actor(),
        clock=rt.clock,
        kms=rt.kms,
    )
    return json_response(locality.serialize(rule), 201)


def get_locality_rule(id: str) -> Response:
    rule = locality.get(uow().session, livemode=caller().livemode, rule_id=id)
    return json_response(locality.serialize(rule))


def update_locality_rule(id: str, body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    rule = locality.update(
        uow().session,
        livemode=who.livemode,
        rule_id=id,
        changes=body,
        actor=who.actor(),
        clock=rt.clock,
        kms=rt.kms,
    )
    return json_response(locality.serialize(rule))


def delete_locality_rule(id: str) -> Response:
    rt, who = runtime(), caller()
    rule = locality.delete(
        uow().session, livemode=who.livemode, rule_id=id, actor=who.actor(), clock=rt.clock, kms=rt.kms
    )
    return json_response({"id": rule.id, "object": "locality_rule", "deleted": True})


def locality_rules_in_force(query: dict[str, Any]) -> Response:
    """What a checkout for a shopper of `country` paying in `currency` offers and asks, all layers merged,
    in the key's mode (a test key sees what a test checkout applies, a live key what a live one does)."""
    who = caller()
    tenant = tenant_by_id(uow().session, who.tenant_id)
    rules = locality.rules_for(
        uow().session,
        livemode=who.livemode,
        country=validate_country(query["country"]),
        currency=money.validate_currency(query["currency"]),
        methods=checkout_settings.payment_methods_of(tenant, livemode=who.livemode),
    )
    return json_response(locality.serialize_in_force(rules))


# --- API keys -------------------------------------------------------------------------------------------


def list_api_keys() -> Response:
    now = runtime().clock.now()
    keys = api_keys.list_keys(uow().session, livemode=caller().livemode)
    return json_response(
        {"object": "list", "data": [api_keys.serialize(k, now=now) for k in keys], "has_more": False}
    )


def _may_manage(key_id: str) -> None:
    # A restricted key never rolls (so obtains) or revokes a key that holds more than it does.
    who = caller()
    record = api_keys.get_key(uow().session, key_id=key_id, livemode=who.livemode)
    if not api_keys.permissions_of(record) <= who.permissions:
        raise PermissionDenied(
            f"API key {key_id} holds permissions this key does not; only a key holding all of them may "
            "roll or revoke it.",
            param="id",
        )


def roll_api_key(id: str, body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    _may_manage(id)
    rolled = api_keys.roll(
        uow().session,
        key_id=id,
        livemode=who.livemode,
        overlap=api_keys.overlap_from_seconds(
            body.get("overlap_seconds", int(api_keys.DEFAULT_OVERLAP.total_seconds()))
        ),
        actor=who.actor(),
        clock=rt.clock,
        kms=rt.kms,
    )
    now = rt.clock.now()
    return json_response(
        {
            **api_keys.serialize(rolled.new, now=now),
            "secret": rolled.key,
            "replaced": api_keys.serialize(rolled.old, now=now),
        },
        201,
    )


def revoke_api_key(id: str, body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    _may_manage(id)
    record = api_keys.revoke(
        uow().session, key_id=id, livemode=who.livemode, actor=who.actor(), clock=rt.clock, kms=rt.kms
    )
    return json_response(api_keys.serialize(record, now=rt.clock.now()))
