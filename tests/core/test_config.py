from __future__ import annotations

import base64
import os

import pytest

from core.config import DEV_MASTER_KEY, DEV_SECRET_KEY, ConfigurationError, Settings

GOOD_KEY = base64.b64encode(os.urandom(32)).decode()


def test_development_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.is_sqlite and settings.uses_fake_redis
    assert settings.surfaces == ("checkout", "portal", "api")


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"KASSA_ENV": "production"})
    message = str(info.value)
    assert "KASSA_SECRET_KEY" in message and "KASSA_MASTER_KEY" in message and "DATABASE_URL" in message


def test_production_starts_with_real_settings() -> None:
    settings = Settings.from_env(
        {
            "KASSA_ENV": "production",
            "KASSA_SECRET_KEY": "s" * 48,
            "KASSA_MASTER_KEY": GOOD_KEY,
            "DATABASE_URL": "postgresql+psycopg://owner:pw@db/kassa",
            "REDIS_URL": "redis://cache:6379/0",
            "KASSA_BASE_URL": "https://pay.example",
            "KASSA_MAIL_URL": "smtps://kassa:pw@smtp.example",
            "KASSA_MAIL_FROM": "Pay Example <receipts@pay.example>",
        }
    )
    assert settings.secure_cookies
    # The application connects as kassa_app, never as the owner that runs migrations.
    assert settings.app_database_url == "postgresql+psycopg://kassa_app@db/kassa"


def test_development_mail_goes_to_files_and_production_needs_an_smtp_server() -> None:
    assert Settings.from_env({}).mail_url == "file:instance/mail"
    assert Settings.from_env({}).mail_from == "Kassa <receipts@localhost>"
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(
            {
                "KASSA_ENV": "production",
                "KASSA_SECRET_KEY": "s" * 48,
                "KASSA_MASTER_KEY": GOOD_KEY,
                "DATABASE_URL": "postgresql+psycopg://owner:pw@db/kassa",
                "REDIS_URL": "redis://cache:6379/0",
                "KASSA_BASE_URL": "https://pay.example",
                "KASSA_MAIL_URL": "file:///var/mail/kassa",
            }
        )
    assert "KASSA_MAIL_URL" in str(info.value) and "KASSA_MAIL_FROM" in str(info.value)


def test_an_unknown_mail_scheme_is_refused_without_echoing_the_url() -> None:
    with pytest.raises(ConfigurationError, match="KASSA_MAIL_URL") as info:
        Settings.from_env({"KASSA_MAIL_URL": "http://user:hunter2@mail.example"})
    assert "hunter2" not in str(info.value)


def test_surfaces_are_checked() -> None:
    assert Settings.from_env({"KASSA_SURFACES": "checkout"}).surfaces == ("checkout",)
    with pytest.raises(ConfigurationError, match="KASSA_SURFACES"):
        Settings.from_env({"KASSA_SURFACES": "checkout,admin"})


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(b"short").decode()])
def test_master_key_must_be_32_bytes(key: str) -> None:
    with pytest.raises(ConfigurationError, match="KASSA_MASTER_KEY"):
        Settings.from_env({"KASSA_MASTER_KEY": key})


def test_explicit_app_url_wins() -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql://o@h/d", "DATABASE_APP_URL": "postgresql://app:pw@h/d"}
    )
    assert settings.app_database_url == "postgresql+psycopg://app:pw@h/d"


def test_card_retention_and_data_key_age_come_from_the_environment() -> None:
    defaults = Settings.from_env({})
    assert (defaults.card_retention_days, defaults.data_key_max_age_days) == (180, 365)
    chosen = Settings.from_env({"KASSA_CARD_RETENTION_DAYS": "30", "KASSA_DATA_KEY_MAX_AGE_DAYS": "90"})
    assert (chosen.card_retention_days, chosen.data_key_max_age_days) == (30, 90)
    for name, value in (("KASSA_CARD_RETENTION_DAYS", "0"), ("KASSA_DATA_KEY_MAX_AGE_DAYS", "-1")):
        with pytest.raises(ConfigurationError, match="1 or more"):
            Settings.from_env({name: value})
    with pytest.raises(ConfigurationError, match="whole number"):
        Settings.from_env({"KASSA_CARD_RETENTION_DAYS": "half a year"})


PUBLIC = "https://pay.example"


@pytest.mark.parametrize(
    "base_url", ["https://pay.example", "http://pay.example", "http://192.168.1.20:5000"]
)
def test_a_base_url_that_is_not_localhost_refuses_the_development_secrets(base_url: str) -> None:
    # No KASSA_ENV: a forgotten variable must not put a Kassa with the public development keys on a network.
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"KASSA_BASE_URL": base_url})
    message = str(info.value)
    assert "not localhost" in message
    assert "KASSA_SECRET_KEY" in message and "KASSA_MASTER_KEY" in message
    assert DEV_MASTER_KEY not in message and DEV_SECRET_KEY not in message


def test_a_base_url_that_is_not_localhost_needs_https() -> None:
    secrets = {"KASSA_SECRET_KEY": "s" * 48, "KASSA_MASTER_KEY": GOOD_KEY}
    with pytest.raises(ConfigurationError, match="https://") as info:
        Settings.from_env({**secrets, "KASSA_BASE_URL": "http://pay.example"})
    assert "KASSA_SECRET_KEY" not in str(info.value)
    with pytest.raises(ConfigurationError, match="KASSA_SECRET_KEY"):
        Settings.from_env({"KASSA_MASTER_KEY": GOOD_KEY, "KASSA_BASE_URL": PUBLIC})
    with pytest.raises(ConfigurationError, match="KASSA_MASTER_KEY"):
        Settings.from_env({"KASSA_SECRET_KEY": "s" * 48, "KASSA_BASE_URL": PUBLIC})
    # With real secrets and https it starts outside production (SQLite and the Redis stand-in are allowed).
    settings = Settings.from_env({**secrets, "KASSA_BASE_URL": PUBLIC})
    assert settings.secure_cookies and not settings.is_local
    # Changing a built Settings checks it again.
    with pytest.raises(ConfigurationError, match="not localhost"):
        Settings.from_env({}).with_changes(base_url=PUBLIC)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:5000",
        "http://localhost:8000",
        "http://127.0.0.2",
        "http://[::1]:5000",
        "http://app.localhost",
    ],
)
def test_localhost_runs_with_the_development_defaults(base_url: str) -> None:
    settings = Settings.from_env({"KASSA_BASE_URL": base_url})
    assert settings.is_local and settings.master_key == DEV_MASTER_KEY


def test_database_pooler_names_transaction_pooling_or_nothing() -> None:
    assert Settings.from_env({}).database_pooler == ""
    assert Settings.from_env({"DATABASE_POOLER": "Transaction"}).database_pooler == "transaction"
    with pytest.raises(ConfigurationError, match="DATABASE_POOLER must be transaction, session or empty"):
        Settings.from_env({"DATABASE_POOLER": "statement"})
