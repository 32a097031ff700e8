"""Every REST API route, in one readable table (URL rules, validation, access and OpenAPI come from it).

Each route names the permission its caller's key must hold (tenants/permissions.py), or is `public`;
tests/test_route_permissions.py fails for a route that declares neither."""

from __future__ import annotations

from flask import Blueprint, request

from portal.api import openapi
from portal.api.auth import authenticate
from portal.api.pagination import QUERY as PAGE
from portal.api.routing import Route, register
from portal.api.schemas import CURRENCY, ID_PARAM, list_of
from portal.api.views import (
    api_keys,
    balance,
    checkout_sessions,
    checkout_settings,
    events,
    locality_rules,
    meta,
    payment_links,
    payments,
    refunds,
)
from tenants.permissions import Permission as P

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PAYMENT_STATUSES = [
    "initiated",
    "pending",
    "requires_action",
    "authorized",
    "succeeded",
    "failed",
    "canceled",
    "partially_refunded",
    "refunded",
]
ID_QUERY = ID_PARAM
EVENT_TYPE = {
    "type": "string",
    "maxLength": 60,
    "pattern": "^[a-z_]+(\\.[a-z_]+)*$",
    "description": "e.g. payment.succeeded",
}

ROUTES: list[Route] = [
    Route("GET", "/openapi.json", "openapi", meta.openapi, "This document", public=True),
    Route(
        "GET",
        "/checkout/settings",
        "getCheckoutSettings",
        checkout_settings.get_checkout_settings,
        "Read the checkout settings",
        permission=P.PAYMENTS_READ,
        response="CheckoutSettings",
    ),
    Route(
        "PATCH",
        "/checkout/settings",
        "updateCheckoutSettings",
        checkout_settings.patch_checkout_settings,
        "Change the checkout settings",
        permission=P.SETTINGS_WRITE,
        body="CheckoutSettingsPatch",
        response="CheckoutSettings",
    ),
    Route(
        "POST",
        "/checkout/sessions",
        "createCheckoutSession",
        checkout_sessions.create_session,
        "Create a checkout session",
        permission=P.PAYMENTS_CAPTURE,
        body="CheckoutSessionCreate",
        response="CheckoutSession",
        status=201,
    ),
    Route(
        "GET",
        "/checkout/sessions",
        "listCheckoutSessions",
        checkout_sessions.list_sessions,
        "List checkout sessions",
        permission=P.PAYMENTS_READ,
        response=list_of("CheckoutSession"),
        query={**PAGE, "status": {"enum": ["open", "complete", "expired"]}},
    ),
    Route(
        "GET",
        "/checkout/sessions/{id}",
        "getCheckoutSession",
        checkout_sessions.get_session,
        "Retrieve a checkout session",
        permission=P.PAYMENTS_READ,
        response="CheckoutSession",
    ),
    Route(
        "POST",
        "/checkout/sessions/{id}/expire",
        "expireCheckoutSession",
        checkout_sessions.expire_session,
        "Expire an open checkout session",
        permission=P.PAYMENTS_CAPTURE,
        body="PaymentCancel",
        response="CheckoutSession",
    ),
    Route(
        "GET",
        "/payments",
        "listPayments",
        payments.list_payments,
        "List payments",
        permission=P.PAYMENTS_READ,
        response=list_of("Payment"),
        query={
            **PAGE,
            "status": {"enum": PAYMENT_STATUSES},
            "checkout_session": ID_QUERY,
            "created_gte": {"type": "integer", "minimum": 0, "maximum": 32503680000},
            "created_lte": {"type": "integer", "minimum": 0, "maximum": 32503680000},
        },
    ),
    Route(
        "GET",
        "/payments/{id}",
        "getPayment",
        payments.get_payment,
        "Retrieve a payment",
        permission=P.PAYMENTS_READ,
        response="Payment",
    ),
    Route(
        "POST",
        "/payments/{id}/capture",
        "capturePayment",
        payments.capture_payment,
        "Capture an authorized payment",
        permission=P.PAYMENTS_CAPTURE,
        body="PaymentCapture",
        response="Payment",
    ),
    Route(
        "POST",
        "/payments/{id}/cancel",
        "cancelPayment",
        payments.cancel_payment,
        "Cancel an authorized payment",
        permission=P.PAYMENTS_CAPTURE,
        body="PaymentCancel",
        response="Payment",
    ),
    Route(
        "POST",
        "/refunds",
        "createRefund",
        refunds.create_refund,
        "Refund a payment",
        permission=P.PAYMENTS_REFUND,
        body="RefundCreate",
        response="Refund",
        status=201,
        accepted="ApprovalRequest",
    ),
    Route(
        "GET",
        "/refunds",
        "listRefunds",
        refunds.list_refunds,
        "List refunds",
        permission=P.PAYMENTS_READ,
        response=list_of("Refund"),
        query={**PAGE, "payment": ID_QUERY},
    ),
    Route(
        "GET",
        "/refunds/{id}",
        "getRefund",
        refunds.get_refund,
        "Retrieve a refund",
        permission=P.PAYMENTS_READ,
        response="Refund",
    ),
    Route(
        "GET",
        "/balance",
        "getBalance",
        balance.get_balance,
        "The balance, from the ledger",
        permission=P.PAYOUTS_READ,
        response="Balance",
    ),
    Route(
        "GET",
        "/events",
        "listEvents",
        events.list_events,
        "List events",
        permission=P.PAYMENTS_READ,
        response=list_of("Event"),
        query={**PAGE, "type": EVENT_TYPE, "object": ID_QUERY},
    ),
    Route(
        "GET",
        "/events/{id}",
        "getEvent",
        events.get_event,
        "Retrieve an event",
        permission=P.PAYMENTS_READ,
        response="Event",
    ),
    Route(
        "POST",
        "/payment_links",
        "createPaymentLink",
        payment_links.create_payment_link,
        "Create a payment link",
        permission=P.PAYMENTS_CAPTURE,
        body="PaymentLinkCreate",
        response="PaymentLink",
        status=201,
    ),
    Route(
        "GET",
        "/payment_links",
        "listPaymentLinks",
        payment_links.list_payment_links,
        "List payment links",
        permission=P.PAYMENTS_READ,
        response=list_of("PaymentLink"),
        query={**PAGE, "active": {"enum": ["true", "false"]}},
    ),
    Route(
        "GET",
        "/payment_links/{id}",
        "getPaymentLink",
        payment_links.get_payment_link,
        "Retrieve a payment link",
        permission=P.PAYMENTS_READ,
        response="PaymentLink",
    ),
    Route(
        "PATCH",
        "/payment_links/{id}",
        "updatePaymentLink",
        payment_links.update_payment_link,
        "Activate, deactivate or describe a payment link",
        permission=P.PAYMENTS_CAPTURE,
        body="PaymentLinkUpdate",
        response="PaymentLink",
    ),
    Route(
        "GET",
        "/locality_rules",
        "listLocalityRules",
        locality_rules.list_locality_rules,
        "List the tenant's locality rules",
        permission=P.PAYMENTS_READ,
        response=list_of("LocalityRule"),
        query=PAGE,
    ),
    Route(
        "POST",
        "/locality_rules",
        "createLocalityRule",
        locality_rules.create_locality_rule,
        'Create the rule for a country (or "*" for all)',
        permission=P.SETTINGS_WRITE,
        body="LocalityRuleCreate",
        response="LocalityRule",
        status=201,
    ),
    Route(
        "GET",
        "/checkout/locality_rules",
        "getLocalityRulesInForce",
        locality_rules.locality_rules_in_force,
        "The rules a checkout applies for a country and currency (built-in defaults and the tenant's rules)",
        permission=P.PAYMENTS_READ,
        response="LocalityRulesInForce",
        query={"country": {"type": "string", "pattern": "^[A-Za-z]{2}$"}, "currency": CURRENCY},
        required_query=("country", "currency"),
    ),
    Route(
        "GET",
        "/locality_rules/{id}",
        "getLocalityRule",
        locality_rules.get_locality_rule,
        "Retrieve a locality rule",
        permission=P.PAYMENTS_READ,
        response="LocalityRule",
    ),
    Route(
        "PATCH",
        "/locality_rules/{id}",
        "updateLocalityRule",
        locality_rules.update_locality_rule,
        "Change a locality rule (null clears a field)",
        permission=P.SETTINGS_WRITE,
        body="LocalityRuleUpdate",
        response="LocalityRule",
    ),
    Route(
        "DELETE",
        "/locality_rules/{id}",
        "deleteLocalityRule",
        locality_rules.delete_locality_rule,
        "Delete a locality rule",
        permission=P.SETTINGS_WRITE,
        response="LocalityRuleDeleted",
    ),
]

ROUTES += [
    Route(
        "GET",
        "/api_keys",
        "listApiKeys",
        api_keys.list_api_keys,
        "List the API keys of the caller's mode",
        permission=P.API_KEYS_MANAGE,
        response=list_of("ApiKey"),
    ),
    Route(
        "POST",
        "/api_keys/{id}/roll",
        "rollApiKey",
        api_keys.roll_api_key,
        "Replace a key: a new one (shown once), the old one working for overlap_seconds",
        permission=P.API_KEYS_MANAGE,
        body="ApiKeyRoll",
        response="ApiKeyRolled",
        status=201,
        secret_fields=("secret",),
    ),
    Route(
        "POST",
        "/api_keys/{id}/revoke",
        "revokeApiKey",
        api_keys.revoke_api_key,
        "Revoke a key now: every later use is refused (401) and audited",
        permission=P.API_KEYS_MANAGE,
        body="ApiKeyRevoke",
        response="ApiKey",
    ),
]

PUBLIC = {f"api.{route.operation}" for route in ROUTES if route.public}


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in PUBLIC:
        authenticate()


register(bp, ROUTES)
openapi.describe(ROUTES)
