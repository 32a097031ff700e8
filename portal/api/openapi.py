"""The OpenAPI 3.1 document at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "param"],
            "properties": {
                "type": {"type": "string"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "param": {"type": ["string", "null"]},
            },
        }
    },
}

CHECKOUT_SETTINGS = {
    "type": "object",
    "required": ["object", "display_name", "brand_color", "allowed_origins", "payment_methods"],
    "properties": {
        "object": {"const": "checkout.settings"},
        "display_name": {"type": "string", "minLength": 1, "maxLength": 100},
        "brand_color": {"type": ["string", "null"], "pattern": "^#[0-9a-f]{6}$"},
        "allowed_origins": {"type": "array", "items": {"type": "string"}, "maxItems": 50},
        "payment_methods": {
            "type": "array",
            "items": {"enum": ["card", "wallet", "bank"]},
            "minItems": 1,
        },
    },
}

CHECKOUT_SETTINGS_PATCH = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **{key: value for key, value in CHECKOUT_SETTINGS["properties"].items() if key != "object"},  # type: ignore[attr-defined]
        # Accepted in either case; answered in lower case.
        "brand_color": {"type": ["string", "null"], "pattern": "^#[0-9a-fA-F]{6}$"},
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(code): {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }


def document() -> dict[str, Any]:
    settings_ref = {"$ref": "#/components/schemas/CheckoutSettings"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kassa API", "version": "v1"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"secretKey": []}],
        "components": {
            "securitySchemes": {"secretKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": ERROR,
                "CheckoutSettings": CHECKOUT_SETTINGS,
                "CheckoutSettingsPatch": CHECKOUT_SETTINGS_PATCH,
            },
        },
        "paths": {
            "/checkout/settings": {
                "get": {
                    "operationId": "getCheckoutSettings",
                    "responses": {
                        "200": {
                            "description": "The settings",
                            "content": {"application/json": {"schema": settings_ref}},
                        },
                        **_errors(401),
                    },
                },
                "patch": {
                    "operationId": "updateCheckoutSettings",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CheckoutSettingsPatch"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The settings",
                            "content": {"application/json": {"schema": settings_ref}},
                        },
                        **_errors(400, 401),
                    },
                },
            }
        },
    }
