"""The building blocks every resource's schemas share, the error answer and the list envelope."""

from __future__ import annotations

from typing import Any

NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
ID = {"type": "string", "maxLength": 64}
#: A Kassa id as given to a query or a path: a prefix, "_", and 26 lower-case base32 characters (36 for
#: ids that alone grant access, like a checkout session's: core/ids.py).
ID_PARAM: dict[str, Any] = {
    "type": "string",
    "pattern": "^[a-z]+_[0-9a-z]{26}([0-9a-z]{10})?$",
    "description": "An object id, e.g. pay_01jd8x3m4n5p6q7r8s9t0v1w2x",
}
URL = {
    "type": "string",
    "maxLength": 2048,
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]",
    "description": "Absolute http(s) URL (https in live mode)",
}
TIMESTAMP = {"type": "integer", "description": "Unix time, seconds"}
AMOUNT = {
    "type": "integer",
    "minimum": 1,
    "maximum": 999_999_999_999,
    "description": "Minor units of currency",
}
CURRENCY = {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217, e.g. EUR"}
METHODS = {"type": "array", "items": {"enum": ["card", "wallet", "bank"]}, "minItems": 1, "uniqueItems": True}
MONEY_LIST = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["amount", "currency"],
        "properties": {"amount": {"type": "integer"}, "currency": {"type": "string"}},
    },
}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
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
                    "param": NULLABLE_STRING,
                },
            }
        },
    },
}


def list_of(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "has_more"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
            "has_more": {"type": "boolean"},
        },
    }
