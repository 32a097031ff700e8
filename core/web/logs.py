"""JSON logs with request id and tenant id, and a filter that masks anything shaped like a card number.

A line is plain JSON: terminal colour codes that a library adds for humans (Werkzeug's dev server colours
each request line by status) are taken out, as they would land in the JSON as `\u001b[33m` noise.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from stdnum import luhn

from core import telemetry

#: 12-19 digits, optionally grouped by spaces or dashes: the shapes a PAN is typed or logged in.
_CANDIDATE = re.compile(r"(?<![\d])(?:\d[ -]?){11,18}\d(?![\d])")


#: ANSI escape sequences (CSI, e.g. `ESC[1;31m`, and the two-character ones): colours and cursor moves.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def mask_pans(text: str) -> str:
    """Replace every Luhn-valid 12-19 digit run with its last four digits behind asterisks."""

    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if luhn.is_valid(digits):
            return "*" * (len(digits) - 4) + digits[-4:]
        return match.group(0)

    return _CANDIDATE.sub(replace, text)


class CardNumberFilter(logging.Filter):
    """Masks PANs in the message, its arguments, the exception text and extra string fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not take the request down
            message = str(record.msg)
        record.msg, record.args = mask_pans(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pans(record.exc_text)
        for key, value in list(vars(record).items()):
            if isinstance(value, str) and key not in ("msg", "exc_text", "name", "levelname", "pathname"):
                setattr(record, key, mask_pans(value))
        return True


class MaskingJsonFormatter(JsonFormatter):
    """JSON lines, with card numbers masked in the finished line (message, extras and traceback alike) and
    no terminal escape codes."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not take the request down
            message = str(record.msg)
        # Before JSON encoding: once encoded, ESC is `\u001b` and no longer looks like an escape code.
        record.msg, record.args = strip_ansi(message), None
        return mask_pans(super().format(record))


class ContextFilter(logging.Filter):
    """Adds request_id and tenant_id from the Flask request context when there is one, and trace_id and
    span_id from the current span when tracing is on (requests and jobs alike, core/telemetry.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = telemetry.trace_ids()
        if ids is not None:
            record.trace_id, record.span_id = ids
        try:
            from flask import g, has_request_context

            if has_request_context():
                record.request_id = getattr(record, "request_id", None) or g.get("request_id")
                record.tenant_id = getattr(record, "tenant_id", None) or g.get("tenant_id")
        except Exception:  # noqa: S110  (logging must never fail; the fields are optional)
            pass
        return True


def configure_logging(level: str = "INFO", stream: Any = None) -> logging.Handler:
    """Route the root logger to one JSON handler on stderr (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kassa", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._kassa = True  # type: ignore[attr-defined]
    handler.setFormatter(
        MaskingJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"}
        )
    )
    handler.addFilter(ContextFilter())
    handler.addFilter(CardNumberFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Migration chatter is for the operator running `kassa db upgrade`, not for every start.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return handler
