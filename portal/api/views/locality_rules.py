"""Locality rules: list, create, retrieve, update, delete, and the rules in force for a checkout; their
versions: drafts and scheduled changes (writable), the history (readable), restore, dry run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response

from core import money
from core.geo import validate_country
from core.locality import queries, versions
from core.locality import service as locality
from core.web.request import uow
from core.workspace import locality as dry_runs
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response
from tenants import checkout_settings
from tenants.lookup import tenant_by_id


def _caught_up() -> None:
    """A scheduled version whose moment passed: the rule rows show it from now on."""
    who = caller()
    locality.catch_up(
        uow().session, tenant_id=who.tenant_id, livemode=who.livemode, now=who.context().clock.now()
    )


def list_locality_rules(query: dict[str, Any]) -> Response:
    _caught_up()
    page = queries.list_locality_rules(uow().session, livemode=caller().livemode, **cursor(query))
    return json_response(envelope(page, locality.serialize))


def create_locality_rule(body: dict[str, Any]) -> Response:
    who = caller()
    rule = locality.create(
        uow().session, who.context(), tenant_id=who.tenant_id, livemode=who.livemode, data=body
    )
    return json_response(locality.serialize(rule), 201)


def get_locality_rule(id: str) -> Response:
    _caught_up()
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
        at=who.context().clock.now(),
        amount=query.get("amount"),
    )
    return json_response(locality.serialize_in_force(rules))


# --- versions -------------------------------------------------------------------------------------------


def _moment(value: object) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), tz=UTC)  # type: ignore[call-overload]


def _version_json(version: Any, status: int = 200) -> Response:
    now = caller().context().clock.now()
    return json_response(versions.serialize(uow().session, version, now=now), status)


def list_versions(query: dict[str, Any]) -> Response:
    who = caller()
    now = who.context().clock.now()
    page = versions.list_versions(uow().session, livemode=who.livemode, **cursor(query))
    current = locality.in_force_at(uow().session, livemode=who.livemode, at=now)
    in_force = current.id if current is not None else ""
    return json_response(
        envelope(page, lambda v: versions.serialize(uow().session, v, now=now, in_force_id=in_force))
    )


def create_version(body: dict[str, Any]) -> Response:
    who = caller()
    version = versions.create(
        uow().session,
        who.context(),
        tenant_id=who.tenant_id,
        livemode=who.livemode,
        rules=body.get("rules"),
        effective_at=_moment(body.get("effective_at")),
        note=body.get("note"),
    )
    return _version_json(version, 201)


def get_version(id: str) -> Response:
    return _version_json(versions.get(uow().session, livemode=caller().livemode, version_id=id))


def update_version(id: str, body: dict[str, Any]) -> Response:
    who = caller()
    changes = dict(body)
    if "effective_at" in changes:
        changes["effective_at"] = _moment(changes["effective_at"])
    version = versions.update(
        uow().session, who.context(), livemode=who.livemode, version_id=id, changes=changes
    )
    return _version_json(version)


def delete_version(id: str) -> Response:
    who = caller()
    version = versions.discard(uow().session, who.context(), livemode=who.livemode, version_id=id)
    return json_response({"id": version.id, "object": "locality_rule_version", "deleted": True})


def publish_version(id: str, body: dict[str, Any]) -> Response:
    who = caller()
    version = versions.publish(
        uow().session,
        who.context(),
        livemode=who.livemode,
        version_id=id,
        effective_at=_moment(body.get("effective_at")),
    )
    return _version_json(version)


def restore_version(id: str, body: dict[str, Any]) -> Response:
    who = caller()
    version = versions.restore(uow().session, who.context(), livemode=who.livemode, version_id=id)
    return _version_json(version, 201)


def dry_run_version(id: str) -> Response:
    who = caller()
    version = versions.get(uow().session, livemode=who.livemode, version_id=id)
    tenant = tenant_by_id(uow().session, who.tenant_id)
    result = dry_runs.dry_run(
        uow().session,
        livemode=who.livemode,
        layers=version.rules,
        tenant_country=tenant.country,
        now=who.context().clock.now(),
    )
    return json_response(dry_runs.serialize_dry_run(result))
