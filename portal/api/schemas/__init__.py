"""The API's schemas, one module per resource: one source for request validation and for the OpenAPI
document. SCHEMAS gathers them in the document's order (components keep the order they had when this was
one module, so the published document does not change)."""

from __future__ import annotations

from typing import Any

from portal.api.schemas import (
    api_keys,
    checkout_sessions,
    checkout_settings,
    common,
    events,
    locality_rules,
    payment_links,
    payments,
    payouts,
    refunds,
    reports,
    webhooks,
)
from portal.api.schemas.common import (
    AMOUNT,
    CURRENCY,
    ID,
    ID_PARAM,
    METHODS,
    MONEY_LIST,
    NULLABLE_STRING,
    TIMESTAMP,
    URL,
    list_of,
    nullable,
)

_ORDER = [
    common.SCHEMAS,
    checkout_sessions.SCHEMAS,
    payments.SCHEMAS,
    refunds.SCHEMAS,
    payouts.SCHEMAS,
    events.SCHEMAS,
    {"CheckoutSettings": checkout_settings.SCHEMAS["CheckoutSettings"]},
    payment_links.SCHEMAS,
    {"CheckoutSettingsPatch": checkout_settings.SCHEMAS["CheckoutSettingsPatch"]},
    locality_rules.SCHEMAS,
    api_keys.SCHEMAS,
    webhooks.SCHEMAS,
    reports.SCHEMAS,
]
SCHEMAS: dict[str, dict[str, Any]] = {name: schema for part in _ORDER for name, schema in part.items()}

__all__ = [
    "AMOUNT",
    "CURRENCY",
    "ID",
    "ID_PARAM",
    "METHODS",
    "MONEY_LIST",
    "NULLABLE_STRING",
    "SCHEMAS",
    "TIMESTAMP",
    "URL",
    "list_of",
    "nullable",
]
