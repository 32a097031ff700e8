"""Locality rules: list, create, retrieve, update, delete, and the rules in force for a checkout."""

from __future__ import annotations

from typing import Any

from flask import Response

from core import money
from core.geo import validate_country
from core.locality import queries
from core.locality import service as locality
from core.web.request import uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response
from tenants import checkout_settings
from tenants.lookup import tenant_by_id


def list_locality_rules(query: dict[str, Any]) -> Response:
    page = queries.list_locality_rules(uow().session, livemode=caller().livemode, **cursor(query))
    return json_response(envelope(page, locality.serialize))


def create_locality_rule(body: dict[str, Any]) -> Response:
    who = caller()
    rule = locality.create(
        uow().session, who.context(), tenant_id=who.tenant_id, livemode=who.livemode, data=body
    )
    return json_response(locality.serialize(rule), 201)


def get_locality_rule(id: str) -> Response:
    rule = locality.get(uow().session, livemode=caller().livemode, rule_id=id)
    return json_response(locality.serialize(rule))


def update_locality_rule(id: str, body: dict[str, Any]) -> Response:
    who = caller()
    rule = locality.update(uow().session, who.context(), livemode=who.livemode, rule_id=id, changes=body)
    return json_response(locality.serialize(rule))


def delete_locality_rule(id: str) -> Response:
    who = caller()
    rule = locality.delete(uow().session, who.context(), livemode=who.livemode, rule_id=id)
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
