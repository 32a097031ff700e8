"""Webhook endpoint and delivery schemas."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import ID, NULLABLE_STRING, TIMESTAMP

_EVENTS = {
    "type": "array",
    "minItems": 1,
    "maxItems": 50,
    "items": {"type": "string", "maxLength": 60},
    "description": 'Event types to receive, or ["*"] for every type (docs/webhooks.md lists them)',
}
_URL = {"type": "string", "maxLength": 2048, "description": "https (http only in test mode), public address"}
_PAYLOAD = {"enum": ["full", "thin"], "description": "full: data is the object; thin: only its id and type"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "WebhookEndpointCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": _URL,
            "events": {**_EVENTS, "description": _EVENTS["description"] + '; default ["*"]'},
            "description": {"type": ["string", "null"], "maxLength": 500},
            "enabled": {"type": "boolean", "description": "Default true"},
            "payload": {**_PAYLOAD, "description": _PAYLOAD["description"] + "; default full"},
        },
    },
    "WebhookEndpointUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "url": _URL,
            "events": _EVENTS,
            "description": {"type": ["string", "null"], "maxLength": 500},
            "enabled": {"type": "boolean"},
            "payload": _PAYLOAD,
        },
    },
    "WebhookSecretRoll": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "overlap_seconds": {
                "type": "integer",
                "minimum": 0,
                "maximum": 604800,
                "description": "How long the old secret keeps signing beside the new one; default 86400",
            },
        },
    },
    "WebhookReplay": {
        "type": "object",
        "additionalProperties": False,
        "required": ["since"],
        "properties": {
            "since": {**TIMESTAMP, "minimum": 0, "description": "Replay failed deliveries made since"}
        },
    },
    "WebhookEndpoint": {
        "type": "object",
        "required": ["id", "object", "url", "events", "enabled", "status", "created_at", "livemode"],
        "properties": {
            "id": ID,
            "object": {"const": "webhook_endpoint"},
            "url": {"type": "string"},
            "description": NULLABLE_STRING,
            "events": {"type": "array", "items": {"type": "string"}},
            "payload": {"enum": ["full", "thin"]},
            "enabled": {"type": "boolean"},
            "status": {"enum": ["active", "failing", "disabled"]},
            "disabled_reason": NULLABLE_STRING,
            "failing_since": {"type": ["integer", "null"]},
            "secret_rotation_ends_at": {"type": ["integer", "null"]},
            "secret": {"type": "string", "description": "whsec_…: in the create and roll answers only"},
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
    "WebhookEndpointDeleted": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {"id": ID, "object": {"const": "webhook_endpoint"}, "deleted": {"const": True}},
    },
    "WebhookDelivery": {
        "type": "object",
        "required": ["id", "object", "endpoint", "event", "type", "status", "attempts", "created_at"],
        "properties": {
            "id": ID,
            "object": {"const": "webhook_delivery"},
            "endpoint": ID,
            "event": {"type": ["string", "null"], "description": "null for a test event"},
            "type": {"type": "string"},
            "status": {"enum": ["pending", "succeeded", "dead", "canceled"]},
            "attempts": {"type": "integer"},
            "last_status": {"type": ["integer", "null"]},
            "next_attempt_at": {"type": ["integer", "null"]},
            "created_at": TIMESTAMP,
            "delivered_at": {"type": ["integer", "null"]},
            "attempt_log": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "attempted_at": TIMESTAMP,
                        "status": {"type": ["integer", "null"]},
                        "succeeded": {"type": "boolean"},
                        "latency_ms": {"type": "integer"},
                        "response_excerpt": NULLABLE_STRING,
                        "error": NULLABLE_STRING,
                    },
                },
            },
        },
    },
    "WebhookReplayed": {
        "type": "object",
        "required": ["object", "replayed"],
        "properties": {"object": {"const": "webhook_replay"}, "replayed": {"type": "integer"}},
    },
}
