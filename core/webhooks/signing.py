"""Standard Webhooks signing (https://www.standardwebhooks.com), through the `standardwebhooks` package.

`webhook-signature` is `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`; during a
secret rotation it carries one signature per secret, separated by a space, so a receiver holding either
secret verifies the message.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from standardwebhooks import Webhook

SECRET_PREFIX: Final = "whsec_"  # noqa: S105  (the prefix of every secret, not one)
SECRET_BYTES: Final = 32


def new_secret() -> str:
    """`whsec_` and the base64 of 32 bytes from the OS random source."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (compact JSON, keys in a fixed order)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(secrets_: Sequence[str], *, msg_id: str, timestamp: datetime, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,…` per secret, space-separated."""
    text = body.decode()
    return " ".join(Webhook(secret).sign(msg_id, timestamp, text) for secret in secrets_)


def headers(secrets_: Sequence[str], *, msg_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature(secrets_, msg_id=msg_id, timestamp=timestamp, body=body),
    }
