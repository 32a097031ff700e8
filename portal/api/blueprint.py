"""Every REST API route, in one readable table (URL rules, validation and OpenAPI come from it)."""

from __future__ import annotations

from flask import Blueprint, request

from portal.api import views
from portal.api.auth import authenticate
from portal.api.pagination import QUERY as PAGE
from portal.api.routing import Route, register
from portal.api.schemas import ID_PARAM, list_of

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
    Route("GET", "/openapi.json", "openapi", views.openapi, "This document", public=True),
    Route(
        "GET",
        "/checkout/settings",
        "getCheckoutSettings",
        views.get_checkout_settings,
        "Read the checkout settings",
        response="CheckoutSettings",
    ),
    Route(
        "PATCH",
        "/checkout/settings",
        "updateCheckoutSettings",
        views.patch_checkout_settings,
        "Change the checkout settings",
        body="CheckoutSettingsPatch",
        response="CheckoutSettings",
    ),
    Route(
        "POST",
        "/checkout/sessions",
        "createCheckoutSession",
        views.create_session,
        "Create a checkout session",
        body="CheckoutSessionCreate",
        response="CheckoutSession",
        status=201,
    ),
    Route(
        "GET",
        "/checkout/sessions",
        "listCheckoutSessions",
        views.list_sessions,
        "List checkout sessions",
        response=list_of("CheckoutSession"),
        query={**PAGE, "status": {"enum": ["open", "complete", "expired"]}},
    ),
    Route(
        "GET",
        "/checkout/sessions/{id}",
        "getCheckoutSession",
        views.get_session,
        "Retrieve a checkout session",
        response="CheckoutSession",
    ),
    Route(
        "POST",
        "/checkout/sessions/{id}/expire",
        "expireCheckoutSession",
        views.expire_session,
        "Expire an open checkout session",
        body="PaymentCancel",
        response="CheckoutSession",
    ),
    Route(
        "GET",
        "/payments",
        "listPayments",
        views.list_payments,
        "List payments",
        response=list_of("Payment"),
        query={
            **PAGE,
            "status": {"enum": PAYMENT_STATUSES},
            "checkout_session": ID_QUERY,
            "created_gte": {"type": "integer", "minimum": 0, "maximum": 32503680000},
            "created_lte": {"type": "integer", "minimum": 0, "maximum": 32503680000},
        },
    ),
    Route("GET", "/payments/{id}", "getPayment", views.get_payment, "Retrieve a payment", response="Payment"),
    Route(
        "POST",
        "/payments/{id}/capture",
        "capturePayment",
        views.capture_payment,
        "Capture an authorized payment",
        body="PaymentCapture",
        response="Payment",
    ),
    Route(
        "POST",
        "/payments/{id}/cancel",
        "cancelPayment",
        views.cancel_payment,
        "Cancel an authorized payment",
        body="PaymentCancel",
        response="Payment",
    ),
    Route(
        "POST",
        "/refunds",
        "createRefund",
        views.create_refund,
        "Refund a payment",
        body="RefundCreate",
        response="Refund",
        status=201,
    ),
    Route(
        "GET",
        "/refunds",
        "listRefunds",
        views.list_refunds,
        "List refunds",
        response=list_of("Refund"),
        query={**PAGE, "payment": ID_QUERY},
    ),
    Route("GET", "/refunds/{id}", "getRefund", views.get_refund, "Retrieve a refund", response="Refund"),
    Route(
        "GET", "/balance", "getBalance", views.get_balance, "The balance, from the ledger", response="Balance"
    ),
    Route(
        "GET",
        "/events",
        "listEvents",
        views.list_events,
        "List events",
        response=list_of("Event"),
        query={**PAGE, "type": EVENT_TYPE, "object": ID_QUERY},
    ),
    Route("GET", "/events/{id}", "getEvent", views.get_event, "Retrieve an event", response="Event"),
    Route(
        "POST",
        "/payment_links",
        "createPaymentLink",
        views.create_payment_link,
        "Create a payment link",
        body="PaymentLinkCreate",
        response="PaymentLink",
        status=201,
    ),
    Route(
        "GET",
        "/payment_links",
        "listPaymentLinks",
        views.list_payment_links,
        "List payment links",
        response=list_of("PaymentLink"),
        query={**PAGE, "active": {"enum": ["true", "false"]}},
    ),
    Route(
        "GET",
        "/payment_links/{id}",
        "getPaymentLink",
        views.get_payment_link,
        "Retrieve a payment link",
        response="PaymentLink",
    ),
    Route(
        "PATCH",
        "/payment_links/{id}",
        "updatePaymentLink",
        views.update_payment_link,
        "Activate, deactivate or describe a payment link",
        body="PaymentLinkUpdate",
        response="PaymentLink",
    ),
]

PUBLIC = {f"api.{route.operation}" for route in ROUTES if route.public}


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in PUBLIC:
        authenticate()


register(bp, ROUTES)
