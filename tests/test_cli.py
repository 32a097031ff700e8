from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flask import Flask
from sqlalchemy import text

from core.config import Settings
from core.jobs.runtime import Runtime
from tenants.resolution import owner_of_key

ROOT = Path(__file__).resolve().parent.parent


def test_tenants_create_prints_json_with_the_keys(app: Flask, clean: Runtime) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "tenants",
            "create",
            "--name",
            "Acme",
            "--slug",
            "acme",
            "--country",
            "DE",
            "--currency",
            "EUR",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tenant_id"].startswith("ten_")
    assert data["publishable_key"].startswith("pk_test_") and data["secret_key"].startswith("sk_test_")
    with clean.db.unit_of_work() as uow:
        owner = owner_of_key(uow.session, data["secret_key"], now=clean.clock.now())
    assert owner is not None and owner.tenant_id == data["tenant_id"]


def test_bad_input_is_a_clear_error_not_a_traceback(app: Flask, clean: Runtime) -> None:
    result = app.test_cli_runner().invoke(
        args=["tenants", "create", "--name", "Acme", "--slug", "acme", "--country", "ZZ", "--currency", "EUR"]
    )
    assert result.exit_code == 1
    assert "Country 'ZZ' is not an ISO 3166-1 alpha-2 code" in result.output
    assert "Traceback" not in result.output


def test_users_create_and_duplicate_membership(app: Flask, clean: Runtime) -> None:
    runner = app.test_cli_runner()
    runner.invoke(
        args=["tenants", "create", "--name", "Acme", "--slug", "acme", "--country", "DE", "--currency", "EUR"]
    )
    args = [
        "users",
        "create",
        "--tenant",
        "acme",
        "--email",
        "Ann@Acme.example",
        "--role",
        "admin",
        "--password",
        "a long enough password",
    ]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "ann@acme.example" in result.output and "admin of acme" in result.output
    again = runner.invoke(args=args)
    assert again.exit_code == 1 and "already a member" in again.output
    missing = runner.invoke(args=[*args[:2], "--tenant", "nope", *args[4:]])
    assert missing.exit_code == 1 and "No tenant with slug or id 'nope'" in missing.output


def test_audit_verify_passes_then_fails_after_an_edit(app: Flask, clean: Runtime) -> None:
    runner = app.test_cli_runner()
    runner.invoke(
        args=["tenants", "create", "--name", "Acme", "--slug", "acme", "--country", "DE", "--currency", "EUR"]
    )
    result = runner.invoke(args=["audit", "verify", "--tenant", "acme"])
    assert result.exit_code == 0 and "acme: ok" in result.output
    with clean.db.owner_engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'api_key.revoked' WHERE seq = 2"))
    result = runner.invoke(args=["audit", "verify", "--tenant", "acme"])
    assert result.exit_code == 1 and "acme: BROKEN" in result.output and "edited" in result.output


def test_the_kassa_console_script_runs_against_the_configured_database(
    settings: Settings, clean: Runtime
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": "fakeredis://",
        "KASSA_LOG_LEVEL": "WARNING",
    }
    kassa = Path(sys.executable).with_name("kassa")
    result = subprocess.run(
        [
            str(kassa),
            "tenants",
            "create",
            "--name",
            "Script",
            "--slug",
            "script",
            "--country",
            "US",
            "--currency",
            "USD",
            "--json",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["slug"] == "script"
    # And `flask --app wsgi` is the same group.
    flask = Path(sys.executable).with_name("flask")
    listed = subprocess.run(
        [str(flask), "--app", "wsgi", "tenants", "list"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert "script" in listed.stdout
