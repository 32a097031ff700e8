from __future__ import annotations

import io
import json
import logging

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
