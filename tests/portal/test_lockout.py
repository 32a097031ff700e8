"""An account locks after 10 failed attempts for 30 minutes, whichever IPs they come from and whether
Redis is up or not; the per-IP limit stays against spraying and fails closed."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable
from typing import Literal

import pyotp
import pytest
import redis
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tenants import passwords, sign_in
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories
from tests.portal.test_sign_in import post_form

LOCKED = "This account is locked for 30 minutes after too many failed sign-in attempts."


def from_ip(app: Flask, ip: str) -> FlaskClient:
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = ip
    return browser


def attempt(browser: FlaskClient, email: str, password: str):  # type: ignore[no-untyped-def]
    return post_form(browser, "/portal/login", {"email": email, "password": password})


def lock(app: Flask, tenant: MadeTenant) -> None:
    for n in range(10):
        response = attempt(from_ip(app, f"198.51.100.{n + 1}"), tenant.owner_email, f"wrong password {n}")
        expected = LOCKED if n == 9 else "Email or password is incorrect."
        assert expected in response.get_data(as_text=True), n


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_down(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Point the runtime at a port where no Redis listens."""

    def down() -> None:
        unreachable = redis.Redis(
            port=closed_port(), socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )
        monkeypatch.setattr(clean, "redis", unreachable)

    return down


def test_ten_wrong_passwords_from_ten_ips_lock_the_account_for_thirty_minutes(
    app: Flask, make: Factories, clock: FrozenClock, clean: Runtime
) -> None:
    tenant = make.tenants()
    lock(app, tenant)
    right = attempt(from_ip(app, "203.0.113.7"), tenant.owner_email, PASSWORD)
    assert right.status_code == 403 and LOCKED in right.get_data(as_text=True)  # the right one, refused
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        actions = uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions.count("user.locked") == 1
    clock.advance(minutes=29)
    assert LOCKED in attempt(from_ip(app, "203.0.113.8"), tenant.owner_email, PASSWORD).get_data(as_text=True)
    clock.advance(minutes=2)
    browser = from_ip(app, "203.0.113.9")
    response = attempt(browser, tenant.owner_email, PASSWORD)
    assert response.status_code == 302 and response.location.endswith("/portal/login/code")
    code = pyotp.TOTP(tenant.totp_secret).at(clock.now())
    assert post_form(browser, "/portal/login/code", {"code": code}).location.endswith("/portal/")


def test_wrong_authentication_codes_count_towards_the_lock(
    app: Flask, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    for n in range(5):
        attempt(from_ip(app, f"198.51.100.{n + 1}"), tenant.owner_email, "wrong password")
    wrong = "000000" if pyotp.TOTP(tenant.totp_secret).at(clock.now()) != "000000" else "111111"
    browser = from_ip(app, "198.51.100.77")
    assert attempt(browser, tenant.owner_email, PASSWORD).status_code == 302
    for _ in range(4):
        post_form(browser, "/portal/login/code", {"code": wrong})
    response = post_form(browser, "/portal/login/code", {"code": wrong})  # the 10th failure
    assert response.status_code == 302 and response.location.endswith("/portal/login")
    assert LOCKED in browser.get("/portal/login").get_data(as_text=True)


def test_redis_down_does_not_lift_the_lock(
    app: Flask, make: Factories, clock: FrozenClock, redis_down: Callable[[], None]
) -> None:
    tenant = make.tenants()
    lock(app, tenant)
    redis_down()
    response = attempt(from_ip(app, "203.0.113.7"), tenant.owner_email, PASSWORD)
    assert response.status_code == 403 and LOCKED in response.get_data(as_text=True)


def test_with_redis_down_sign_in_is_refused_not_left_uncounted(
    app: Flask, make: Factories, clock: FrozenClock, redis_down: Callable[[], None]
) -> None:
    tenant = make.tenants()
    redis_down()
    browser = from_ip(app, "203.0.113.7")
    response = attempt(browser, tenant.owner_email, PASSWORD)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"  # every 503 says when to try again (core/web/errors.py)
    assert "Sign-in is unavailable for a moment. Try again shortly." in response.get_data(as_text=True)
    assert browser.get("/portal/login/code").status_code == 302  # no half-signed-in state either


def test_one_ip_guessing_at_many_accounts_is_limited(
    app: Flask, make: Factories, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sign_in, "MAX_FAILURES_PER_IP", 3)
    tenants = [make.tenants() for _ in range(4)]
    browser = from_ip(app, "192.0.2.10")
    for tenant in tenants[:3]:
        attempt(browser, tenant.owner_email, "wrong password")
    response = attempt(browser, tenants[3].owner_email, PASSWORD)
    assert response.status_code == 429 and "Too many attempts from your network" in response.get_data(
        as_text=True
    )
    other = attempt(from_ip(app, "192.0.2.11"), tenants[3].owner_email, PASSWORD)
    assert other.status_code == 302  # another address, and the account itself is not locked


class CountingHasher(PasswordHasher):
    """The real argon2, its hashes and verifications counted."""

    def __init__(self, like: PasswordHasher) -> None:
        super().__init__(
            time_cost=like.time_cost,
            memory_cost=like.memory_cost,
            parallelism=like.parallelism,
            hash_len=like.hash_len,
            salt_len=like.salt_len,
            type=like.type,
        )
        self.verified: list[str] = []
        self.hashed = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(str(hash))
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.hashed += 1
        return super().hash(password, salt=salt)


def counting(like: PasswordHasher, monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    """Install a counting copy of `like`, as a freshly started process with it would have it."""
    hasher = CountingHasher(like)
    monkeypatch.setattr(passwords, "_current", [passwords.passwords_for(hasher)])
    return hasher


def params(password_hash: str) -> str:
    return password_hash.split("$")[3]  # "m=65536,t=3,p=4"


def test_an_unknown_email_costs_one_password_verification_like_a_known_one(
    app: Flask, make: Factories, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = counting(passwords.PRODUCTION, monkeypatch)  # production's cost: what a guesser would time
    assert not hasher.hashed  # its dummy hash is the constant: a fresh process makes none
    tenant = make.tenants()  # the owner's password hashed at production cost too
    hasher.hashed = 0
    attempt(from_ip(app, "192.0.2.1"), "nobody@shop.example", "some password")
    assert len(hasher.verified) == 1 and not hasher.hashed  # the first unknown email: no extra hashing either
    attempt(from_ip(app, "192.0.2.2"), tenant.owner_email, "some password")
    assert len(hasher.verified) == 2
    assert hasher.verified[0] != hasher.verified[1]  # the unknown email was checked against a dummy hash
    assert params(hasher.verified[0]) == params(hasher.verified[1]) == "m=65536,t=3,p=4"

    def timed(email: str, n: int) -> float:
        started = time.perf_counter()
        attempt(from_ip(app, f"192.0.2.{100 + n}"), email, "some password")
        return time.perf_counter() - started

    unknown = statistics.median(timed("nobody@shop.example", n) for n in range(3))
    known = statistics.median(timed(tenant.owner_email, 10 + n) for n in range(3))
    assert 1 / 3 < unknown / known < 3, (unknown, known)  # generous: argon2 dominates both


def test_the_dummy_hash_follows_the_configured_hasher(
    app: Flask, make: Factories, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite's cheap hasher: an unknown email is checked against a dummy made with the cheap
    parameters, not production's (which would make it a hundred times slower than a known one)."""
    hasher = counting(passwords.CHEAP, monkeypatch)
    assert hasher.hashed == 1  # its dummy, made at install, never on the first unknown email
    tenant = make.tenants()
    hasher.hashed = 0
    attempt(from_ip(app, "192.0.2.1"), "nobody@shop.example", "some password")
    attempt(from_ip(app, "192.0.2.2"), tenant.owner_email, "some password")
    assert not hasher.hashed and len(hasher.verified) == 2
    unknown, known = hasher.verified
    assert unknown != known and params(unknown) == params(known) == "m=8,t=1,p=1"


def test_a_disabled_user_is_told_so_after_the_right_password_only(
    app: Flask, make: Factories, clock: FrozenClock, clean: Runtime
) -> None:
    tenant = make.tenants()
    result = app.test_cli_runner().invoke(args=["users", "disable", "--email", tenant.owner_email])
    assert result.exit_code == 0, result.output
    wrong = attempt(from_ip(app, "192.0.2.1"), tenant.owner_email, "wrong password")
    assert "Email or password is incorrect." in wrong.get_data(as_text=True)
    right = attempt(from_ip(app, "192.0.2.2"), tenant.owner_email, PASSWORD)
    assert right.status_code == 403
    assert "This account is disabled." in right.get_data(as_text=True)


# --- the account page: a wrong current password counts like a failed sign-in ----------------------------


def _wrong_current(browser: FlaskClient, form: Literal["password", "codes"], n: int):  # type: ignore[no-untyped-def]
    from tests.portal.test_sign_in import csrf_token

    page = browser.get("/portal/account").get_data(as_text=True)
    if form == "password":
        url, data = (
            "/portal/account/password",
            {
                "pw-current": f"not my password {n}",
                "pw-password": "a brand new passphrase 42",
                "pw-confirm": "a brand new passphrase 42",
                "pw-csrf_token": csrf_token(page),
            },
        )
    else:
        url, data = (
            "/portal/account/recovery-codes",
            {
                "rc-current": f"not my password {n}",
                "rc-csrf_token": csrf_token(page),
            },
        )
    return browser.post(url, data=data)


def _signed_in(app: Flask, tenant: MadeTenant, clock: FrozenClock, ip: str) -> FlaskClient:
    browser = from_ip(app, ip)
    assert attempt(browser, tenant.owner_email, PASSWORD).status_code == 302
    code = pyotp.TOTP(tenant.totp_secret).at(clock.now())
    assert post_form(browser, "/portal/login/code", {"code": code}).location.endswith("/portal/")
    return browser


def _failed_logins(clean: Runtime, tenant: MadeTenant) -> int:
    from tenants.models import User

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        user = uow.session.get(User, tenant.owner.id)
        assert user is not None
        return user.failed_logins


def test_wrong_current_passwords_on_the_account_page_count_towards_the_lock(
    app: Flask, make: Factories, clock: FrozenClock, clean: Runtime
) -> None:
    tenant = make.tenants()
    browser = _signed_in(app, tenant, clock, "198.51.100.50")
    for n in range(4):
        response = _wrong_current(browser, "password", n)
        assert response.status_code == 400, n
        assert "Your current password is not correct." in response.get_data(as_text=True)
    for n in range(5):
        assert _wrong_current(browser, "codes", n).status_code == 400, n
    assert _failed_logins(clean, tenant) == 9  # kept with the 400 answers, not rolled back
    # The tenth failure, a wrong sign-in from elsewhere, locks the account.
    response = attempt(from_ip(app, "198.51.100.51"), tenant.owner_email, "wrong password")
    assert response.status_code == 403 and LOCKED in response.get_data(as_text=True)
    # While locked, the account page does not check the current password at all (the right one neither).
    page = browser.get("/portal/account").get_data(as_text=True)
    from tests.portal.test_sign_in import csrf_token

    refused = browser.post(
        "/portal/account/recovery-codes", data={"rc-current": PASSWORD, "rc-csrf_token": csrf_token(page)}
    )
    assert refused.status_code == 403 and LOCKED in refused.get_data(as_text=True)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        failures = uow.session.scalars(
            select(AuditEvent.action).where(AuditEvent.outcome == "failure").order_by(AuditEvent.seq)
        ).all()
    assert failures.count("user.password.changed") == 4
    assert failures.count("user.recovery_codes.generated") == 5
    assert failures.count("user.locked") == 1


def test_the_tenth_wrong_current_password_locks_the_account_and_signs_it_out_everywhere(
    app: Flask, make: Factories, clock: FrozenClock, clean: Runtime
) -> None:
    tenant = make.tenants()
    browser = _signed_in(app, tenant, clock, "198.51.100.60")
    clock.advance(seconds=30)  # a code is accepted once: the next step's
    elsewhere = _signed_in(app, tenant, clock, "198.51.100.61")
    for n in range(9):
        assert _wrong_current(browser, "password" if n % 2 else "codes", n).status_code == 400, n
    tenth = _wrong_current(browser, "password", 9)
    assert tenth.status_code == 303 and tenth.location.endswith("/portal/login")
    assert LOCKED in browser.get("/portal/login").get_data(as_text=True)
    assert browser.get("/portal/").status_code == 302  # this session ended
    assert elsewhere.get("/portal/").status_code == 302  # and every other one
    right = attempt(from_ip(app, "203.0.113.20"), tenant.owner_email, PASSWORD)
    assert right.status_code == 403 and LOCKED in right.get_data(as_text=True)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalars(select(AuditEvent.action)).all().count("user.locked") == 1
    clock.advance(minutes=31)
    _signed_in(app, tenant, clock, "203.0.113.21")  # the lock lasts 30 minutes, like a sign-in lock
