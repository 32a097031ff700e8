"""One TOTP code signs in once: across requests, across concurrent transactions, and after enrollment."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pyotp
import pytest
from flask.testing import FlaskClient

from core.clock import FrozenClock
from core.context import Actor
from core.jobs.runtime import Runtime
from tenants.models import User
from tenants.service import create_user
from tenants.sign_in import accept_totp
from tests.factories import PASSWORD
from tests.fixtures import Factories
from tests.portal.test_sign_in import csrf_token, post_form


def test_a_code_used_once_is_refused_the_second_time(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    clock = FrozenClock(datetime.now(UTC))
    code = pyotp.TOTP(a.totp_secret).at(clock.now())
    for expected in (True, False):  # each in its own transaction, as two sign-ins would be
        with clean.db.unit_of_work() as uow:
            user = uow.session.get(User, a.owner.id)
            assert user is not None
            assert accept_totp(uow.session, user=user, code=code, kms=clean.kms, clock=clock) is expected
    clock.advance(seconds=30)
    with clean.db.unit_of_work() as uow:
        user = uow.session.get(User, a.owner.id)
        assert user is not None
        later = pyotp.TOTP(a.totp_secret).at(clock.now())
        assert accept_totp(uow.session, user=user, code=later, kms=clean.kms, clock=clock)
        # The previous step's code is inside the drift window, but older than the one just used.
        assert not accept_totp(uow.session, user=user, code=code, kms=clean.kms, clock=clock)


@pytest.mark.postgres  # two transactions at once: SQLite's single writer cannot run them side by side
def test_the_same_code_from_two_concurrent_transactions_is_accepted_once(
    make: Factories, clean: Runtime
) -> None:
    a = make.tenants()
    clock = FrozenClock(datetime.now(UTC))
    code = pyotp.TOTP(a.totp_secret).at(clock.now())
    both_loaded = threading.Barrier(2, timeout=30)
    results: list[bool] = []
    errors: list[BaseException] = []

    def sign_in() -> None:
        try:
            with clean.db.unit_of_work() as uow:
                user = uow.session.get(User, a.owner.id)
                assert user is not None and user.totp_last_step is None
                both_loaded.wait()  # both have read the user before either writes
                results.append(accept_totp(uow.session, user=user, code=code, kms=clean.kms, clock=clock))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=sign_in) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == [False, True]


def test_the_enrollment_code_cannot_sign_in_again(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    monkeypatch.setattr(clean, "clock", clock)
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        create_user(
            uow.session,
            clean.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            email="new@example.com",
            role="developer",
            password=PASSWORD,
            totp_secret=None,
        )
    post_form(client, "/portal/login", {"email": "new@example.com", "password": PASSWORD})
    page = client.get("/portal/login/enroll").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    response = client.post("/portal/login/enroll", data={"code": code, "csrf_token": csrf_token(page)})
    assert response.status_code == 200 and "Save your recovery codes" in response.get_data(as_text=True)
    home = client.get("/portal/").get_data(as_text=True)
    client.post("/portal/logout", data={"csrf_token": csrf_token(home)})

    clock.advance(seconds=5)  # the same 30-second step: the code still "looks" current
    post_form(client, "/portal/login", {"email": "new@example.com", "password": PASSWORD})
    replay = post_form(client, "/portal/login/code", {"code": code})
    assert replay.status_code == 200 and "That code is not valid" in replay.get_data(as_text=True)
    clock.advance(seconds=30)
    fresh = post_form(client, "/portal/login/code", {"code": pyotp.TOTP(secret.group(1)).at(clock.now())})
    assert fresh.status_code == 302 and fresh.location.endswith("/portal/")
