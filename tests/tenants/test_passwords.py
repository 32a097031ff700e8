"""Password hashing: argon2id at (at least) OWASP's cost in production; the suite's cheap argon2id can
never be selected there."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.config import CHEAP_PASSWORD_HASHING, PASSWORD_HASHING, ConfigurationError, Settings
from core.jobs.runtime import Runtime
from tenants import passwords
from tenants.models import User
from tenants.service import check_password
from tests.factories import PASSWORD
from tests.fixtures import Factories
from wsgi import create_app

PRODUCTION_ENV = {
    "KASSA_ENV": "production",
    "KASSA_SECRET_KEY": "s" * 48,
    "KASSA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
    "DATABASE_URL": "postgresql+psycopg://owner:pw@db/kassa",
    "REDIS_URL": "redis://cache:6379/0",
    "KASSA_BASE_URL": "https://pay.example",
    "KASSA_MAIL_URL": "smtps://kassa:pw@smtp.example",
    "KASSA_MAIL_FROM": "Pay Example <receipts@pay.example>",
}


@pytest.fixture
def restored() -> Iterator[None]:
    """Whatever a test installs, the suite's hasher comes back afterwards."""
    before = passwords.current()
    yield
    passwords.install(before)


def test_production_hashes_with_argon2id_at_least_at_owasps_cost() -> None:
    hasher = passwords.PRODUCTION
    # OWASP Password Storage Cheat Sheet: argon2id, at least 19 MiB, 2 iterations, 1 degree of parallelism.
    assert str(hasher.type) == "Type.ID"
    assert hasher.memory_cost >= 19 * 1024 and hasher.time_cost >= 2 and hasher.parallelism >= 1
    assert hasher.hash(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not hasher.check_needs_rehash(passwords.PRODUCTION_DUMMY_HASH)  # the dummy matches its cost


def test_settings_from_the_environment_always_hash_at_full_cost() -> None:
    assert Settings.from_env({}).password_hashing == PASSWORD_HASHING
    assert Settings.from_env(PRODUCTION_ENV).password_hashing == PASSWORD_HASHING
    # No variable selects the cheap hasher: a forgotten or injected one cannot.
    assert Settings.from_env({"KASSA_PASSWORD_HASHING": CHEAP_PASSWORD_HASHING}).password_hashing == (
        PASSWORD_HASHING
    )


def test_production_refuses_the_cheap_hasher() -> None:
    production = Settings.from_env(PRODUCTION_ENV)
    with pytest.raises(ConfigurationError) as info:
        production.with_changes(password_hashing=CHEAP_PASSWORD_HASHING)
    assert "argon2id-cheap" in str(info.value) and "KASSA_ENV=production" in str(info.value)


@pytest.mark.parametrize(
    ("environment", "base_url"),
    [
        ("test", "https://pay.example"),  # the test environment, but reachable from other machines
        ("development", "http://127.0.0.1:5000"),  # a developer's server is not the test suite
    ],
)
def test_the_cheap_hasher_needs_the_test_environment_on_localhost(environment: str, base_url: str) -> None:
    env = {**PRODUCTION_ENV, "KASSA_ENV": environment, "KASSA_BASE_URL": base_url}
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env).with_changes(password_hashing=CHEAP_PASSWORD_HASHING)
    assert "for the test suite only" in str(info.value)
    with pytest.raises(ConfigurationError):
        Settings.from_env(env).with_changes(password_hashing="md5")


def test_a_hand_built_production_settings_cannot_install_the_cheap_hasher(restored: None) -> None:
    """`Settings(...)` skips `validate`; configure and create_app check again, and install nothing."""
    passwords.install(passwords.passwords_for(passwords.PRODUCTION))
    sneaky = Settings(
        environment="production",
        base_url="https://pay.example",
        log_level="WARNING",
        password_hashing=CHEAP_PASSWORD_HASHING,
    )
    with pytest.raises(ConfigurationError):
        passwords.configure(sneaky)
    with pytest.raises(ConfigurationError):
        create_app(sneaky)
    assert passwords.current().hasher is passwords.PRODUCTION


def test_the_suite_runs_the_cheap_argon2id_and_still_verifies_for_real(
    make: Factories, clean: Runtime
) -> None:
    assert clean.settings.password_hashing == CHEAP_PASSWORD_HASHING
    tenant = make.tenants()
    with clean.db.unit_of_work() as uow:
        stored = uow.session.scalar(select(User.password_hash).where(User.id == tenant.owner.id))
        assert stored is not None and stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
        assert check_password(uow.session, email=tenant.owner_email, password=PASSWORD).id == tenant.owner.id


def test_a_cheap_hash_is_raised_to_full_cost_at_the_next_sign_in(
    make: Factories, clean: Runtime, restored: None
) -> None:
    """Were a cheap hash ever to reach production (a copied test database), the first sign-in rehashes
    it at production's cost."""
    tenant = make.tenants()
    passwords.configure(clean.settings.with_changes(password_hashing=PASSWORD_HASHING))
    with clean.db.unit_of_work() as uow:
        check_password(uow.session, email=tenant.owner_email, password=PASSWORD)
    with clean.db.unit_of_work() as uow:
        stored = uow.session.scalar(select(User.password_hash).where(User.id == tenant.owner.id))
        assert stored is not None and stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert check_password(uow.session, email=tenant.owner_email, password=PASSWORD).id == tenant.owner.id
