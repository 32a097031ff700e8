from __future__ import annotations

import base64
import os

import pytest

from core.config import ConfigurationError, Settings

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
