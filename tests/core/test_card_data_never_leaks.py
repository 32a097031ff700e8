"""Pay with a sentinel card number and CVC, then search everywhere they could have leaked."""

from __future__ import annotations

import io
import logging
import re
import subprocess
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from core.jobs.runtime import Runtime
from core.web.logs import configure_logging
from tests.factories import MadeTenant
from tests.fixtures import Factories, admin_url, is_postgres
from tests.payments_helpers import auth, confirm, create_session, work_until_settled

# An American Express test number (Luhn-valid, succeeds in the sandbox) and a 4-digit CVC: a shape no
# other value in the database or Redis takes.
SENTINEL_PAN = "378282246310005"
SENTINEL_CVC = "7351"


#: The 3DS card keeps its (3-digit) CVC in Redis, encrypted, while the shopper answers the challenge.
CHALLENGE_PAN = "4000002760003184"
#: Three digits the suite's own numbering may also write ("shop-735", a factory's sequence in the logs):
#: the test takes the first that the tenant's names do not contain, so a hit is the CVC itself.
CHALLENGE_CVCS = ("735", "862", "519", "946", "683")


def _challenge_cvc(tenant: MadeTenant) -> str:
    names = " ".join((tenant.id, tenant.tenant.slug, tenant.tenant.name, tenant.owner_email))
    return next(cvc for cvc in CHALLENGE_CVCS if not _cvc_pattern(cvc).search(names))


def _pan_pattern(pan: str) -> re.Pattern[str]:
    # The digits in any grouping: plain, or separated by spaces or dashes.
    return re.compile(r"[ -]?".join(pan))


def _cvc_pattern(cvc: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z]){cvc}(?![0-9A-Za-z])")


def _database_dump(rt: Runtime) -> str:
    url = make_url(rt.settings.database_url)
    if is_postgres(rt.settings):
        # As a superuser: row-level security binds the owner, and pg_dump refuses a table it would filter.
        url = make_url(admin_url(rt.settings) or rt.settings.database_url)
        result = subprocess.run(
            ["pg_dump", "--data-only", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
             "-U", url.username or "postgres", url.database or "test"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return result.stdout
    database = Path(url.database or "")
    return b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists()).decode(
        "latin-1"
    )


def _redis_dump(rt: Runtime) -> str:
    parts: list[str] = []
    for key in rt.redis.scan_iter(count=500):
        parts.append(key.decode("latin-1"))
        kind = rt.redis.type(key).decode()
        if kind == "string":
            value = rt.redis.get(key)
            parts.append(value.decode("latin-1") if value else "")
        elif kind == "hash":
            parts.extend(
                f"{k.decode('latin-1')}={v.decode('latin-1')}" for k, v in rt.redis.hgetall(key).items()
            )
        elif kind == "list":
            parts.extend(v.decode("latin-1") for v in rt.redis.lrange(key, 0, -1))
        elif kind == "set":
            parts.extend(v.decode("latin-1") for v in rt.redis.smembers(key))
        elif kind == "zset":
            parts.extend(v.decode("latin-1") for v in rt.redis.zrange(key, 0, -1))
        elif kind == "stream":
            parts.extend(str(entry) for entry in rt.redis.xrange(key))
    return "\n".join(parts)


@pytest.mark.parametrize("outcome", ["succeeded", "requires_action"])
def test_the_card_number_and_cvc_appear_nowhere(
    client: FlaskClient, make: Factories, clean: Runtime, caplog: pytest.LogCaptureFixture, outcome: str
) -> None:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream=stream)
    caplog.set_level(logging.DEBUG)
    try:
        tenant = make.tenants()
        cs = create_session(client, tenant)
        pan, cvc = (
            (SENTINEL_PAN, SENTINEL_CVC)
            if outcome == "succeeded"
            else (CHALLENGE_PAN, _challenge_cvc(tenant))
        )
        payment_id = confirm(clean, tenant, cs["id"], card_number=pan, cvc=cvc)
        redis_while_pending = _redis_dump(clean)  # the CVC sits in Redis only encrypted until authorization
        payment = work_until_settled(clean, tenant, payment_id)
        assert str(payment.status) == outcome
        api = client.get(f"/api/v1/payments/{payment_id}", headers=auth(tenant.keys.secret_key))
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)

    places = {
        "database": _database_dump(clean),
        "redis (pending)": redis_while_pending,
        "redis (after)": _redis_dump(clean),
        "logs": stream.getvalue() + caplog.text,
        "api": api.get_data(as_text=True),
    }
    assert len(places["database"]) > 1000  # the dump really holds the data
    for place, text in places.items():
        assert not _pan_pattern(pan).search(text), f"card number found in {place}"
        assert not _cvc_pattern(cvc).search(text), f"security code found in {place}"
    if outcome == "succeeded":
        assert api.json["card"]["last4"] == SENTINEL_PAN[-4:]
