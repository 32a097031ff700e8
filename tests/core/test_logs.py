from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import threading
import urllib.error
import urllib.request

from flask import Flask

from core.web.devserver import make_dev_server
from core.web.logs import configure_logging, mask_pans

PAN = "4242424242424242"


def test_card_numbers_are_masked_in_every_shape() -> None:
    assert mask_pans(f"card {PAN} ok") == "card ************4242 ok"
    assert mask_pans("card 4242 4242 4242 4242") == "card ************4242"
    assert mask_pans("card 4000-0027-6000-3184.") == "card ************3184."


def test_numbers_that_are_not_card_numbers_are_left_alone() -> None:
    # Luhn-invalid, too short, and an order number glued to letters stay as they are.
    assert mask_pans("order 4242424242424241") == "order 4242424242424241"
    assert mask_pans("amount 12345") == "amount 12345"


def test_json_log_lines_never_carry_a_card_number() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", stream=stream)
    try:
        log = logging.getLogger("kassa.test")
        log.warning("declined card %s", PAN, extra={"detail": f"pan={PAN}"})
        try:
            raise ValueError(f"bad card {PAN}")
        except ValueError:
            log.exception("processor said no")
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert PAN not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["message"] == "declined card ************4242"
    assert lines[0]["level"] == "WARNING"
    assert "************4242" in lines[1]["exc_info"]


def test_werkzeugs_coloured_request_lines_are_plain_json(app: Flask) -> None:
    """The demo's dev server (Werkzeug) colours request lines by status; the JSON line carries none."""
    stream = io.StringIO()
    handler = configure_logging("INFO", stream=stream)
    port_holder = socket.socket()
    port_holder.bind(("127.0.0.1", 0))
    port = port_holder.getsockname()[1]
    port_holder.close()
    server = make_dev_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path in ("/healthz", "/pay/cs_unknown", "/portal"):
            # 404 and 3xx are what Werkzeug logs in colour
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).close()
    finally:
        server.shutdown()
        server.server_close()
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [line["message"] for line in lines if line["name"] == "werkzeug"]
    assert any("/pay/cs_unknown" in m and " 404 " in m for m in requests), requests
    assert "\x1b" not in stream.getvalue() and "\\u001b" not in stream.getvalue()


def test_escape_codes_are_removed_from_any_message() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", stream=stream)
    try:
        logging.getLogger("kassa.test").warning("\x1b[1m\x1b[31m%s\x1b[0m done", "GET /x")
    finally:
        logging.getLogger().removeHandler(handler)
    assert json.loads(stream.getvalue())["message"] == "GET /x done"
