from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select, text

from core.audit import service as audit
from core.audit.models import AuditEvent
from core.config import Settings
from core.jobs.runtime import Runtime
from tenants.resolution import owner_of_key
from tests.fixtures import inspector

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
    with inspector(clean).begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'api_key.revoked' WHERE seq = 2"))
    result = runner.invoke(args=["audit", "verify", "--tenant", "acme"])
    assert result.exit_code == 1 and "acme: BROKEN" in result.output and "edited" in result.output


def _acme_with_a_chain(app: Flask) -> tuple[FlaskCliRunner, str]:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "tenants", "create", "--name", "Acme", "--slug", "acme", "--country", "DE", "--currency", "EUR",
            "--json",
        ]
    )  # fmt: skip
    tenant_id = json.loads(result.output)["tenant_id"]
    result = runner.invoke(args=["audit", "verify", "--tenant", "acme"])
    assert result.exit_code == 0 and "acme: ok" in result.output, result.output
    return runner, tenant_id


def _as_owner(rt: Runtime, sql: str, **params: object) -> None:
    # An attacker with write access to the database (not to the master key): on PostgreSQL a superuser,
    # because row-level security hides every tenant row from the plain owner role.
    with inspector(rt).begin() as conn:
        conn.execute(text(sql), params)


def _broken(runner: FlaskCliRunner, *expected: str) -> str:
    result = runner.invoke(args=["audit", "verify", "--tenant", "acme"])
    assert result.exit_code == 1 and "acme: BROKEN" in result.output, result.output
    for words in expected:
        assert words in result.output, result.output
    assert "Restore the named events from a backup" in result.output
    return result.output


def _rehash_from(rt: Runtime, tenant_id: str, seq: int) -> None:
    """What an attacker who knows the (public) hash algorithm does: recompute every hash from `seq` on."""
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        events = list(uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        uow.session.expunge_all()
    prev = events[seq - 2].hash if seq > 1 else audit.GENESIS
    for event in events[seq - 1 :]:
        event.prev_hash = prev
        event.hash = prev = audit._digest(event)
        _as_owner(
            rt,
            "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE tenant_id = :t AND id = :i",
            p=event.prev_hash,
            h=event.hash,
            t=tenant_id,
            i=event.id,
        )


def test_audit_verify_reports_a_deleted_newest_event(app: Flask, clean: Runtime) -> None:
    runner, tenant_id = _acme_with_a_chain(app)
    _as_owner(
        clean,
        "DELETE FROM audit_events WHERE tenant_id = :t AND seq = (SELECT max(seq) FROM audit_events "
        "WHERE tenant_id = :t)",
        t=tenant_id,
    )
    # The newest event is the check `_acme_with_a_chain` ran (each run is recorded in the chain it checks).
    _broken(runner, "signed head is at seq 4", "the newest 1 event(s) (seq 4 to 4) were deleted")


def test_audit_verify_reports_an_edited_chain_whose_hashes_were_recomputed(
    app: Flask, clean: Runtime
) -> None:
    runner, tenant_id = _acme_with_a_chain(app)
    _as_owner(
        clean,
        "UPDATE audit_events SET actor_id = 'someone-else' WHERE tenant_id = :t AND seq = 2",
        t=tenant_id,
    )
    _rehash_from(clean, tenant_id, 2)
    # The chain is consistent again; only the signed head tells.
    _broken(runner, "(seq 4) is not the one the head signed", "chain was rewritten")


def test_audit_verify_reports_reordered_events(app: Flask, clean: Runtime) -> None:
    runner, tenant_id = _acme_with_a_chain(app)
    for old, new in ((2, 100), (3, 2), (100, 3)):
        _as_owner(
            clean,
            "UPDATE audit_events SET seq = :n WHERE tenant_id = :t AND seq = :o",
            n=new,
            o=old,
            t=tenant_id,
        )
    _broken(runner, "does not follow the previous event")
    _rehash_from(clean, tenant_id, 2)
    _broken(runner, "chain was rewritten")


def test_audit_verify_reports_a_deleted_chain_with_or_without_its_head(app: Flask, clean: Runtime) -> None:
    runner, tenant_id = _acme_with_a_chain(app)
    _as_owner(clean, "DELETE FROM audit_events WHERE tenant_id = :t", t=tenant_id)
    _broken(runner, "the chain is empty but the signed head is at seq 4: every event was deleted")
    # That check was recorded after the head (seq 5): delete it with the head.
    _as_owner(clean, "DELETE FROM audit_events WHERE tenant_id = :t", t=tenant_id)
    _as_owner(clean, "DELETE FROM audit_heads WHERE tenant_id = :t", t=tenant_id)
    _broken(runner, "no events and no signed head")


def test_a_head_moved_back_by_the_database_alone_fails_its_signature(app: Flask, clean: Runtime) -> None:
    runner, tenant_id = _acme_with_a_chain(app)
    _as_owner(clean, "DELETE FROM audit_events WHERE tenant_id = :t AND seq = 3", t=tenant_id)
    _as_owner(
        clean,
        "UPDATE audit_heads SET seq = 2, "
        "hash = (SELECT hash FROM audit_events WHERE tenant_id = :t AND seq = 2) WHERE tenant_id = :t",
        t=tenant_id,
    )
    _broken(runner, "the signed head (seq 2) fails its signature check")


def test_a_chain_without_a_head_is_reported_until_an_operator_adopts_it(app: Flask, clean: Runtime) -> None:
    runner, tenant_id = _acme_with_a_chain(app)
    _as_owner(clean, "DELETE FROM audit_heads WHERE tenant_id = :t", t=tenant_id)
    _broken(runner, "4 event(s) but no signed head", "kassa audit verify --adopt")
    # Audited actions go on, but do not sign a head again by themselves.
    user = ["users", "create", "--tenant", "acme", "--email", "bo@acme.example", "--role", "admin"]
    runner.invoke(args=[*user, "--password", "correct horse battery staple"])
    _broken(runner, "event(s) but no signed head")
    result = runner.invoke(args=["audit", "verify", "--tenant", "acme", "--adopt"])
    assert result.exit_code == 0 and "signed the current end" in result.output and "acme: ok" in result.output
    _as_owner(clean, "DELETE FROM audit_events WHERE tenant_id = :t AND seq = 1", t=tenant_id)
    _as_owner(clean, "DELETE FROM audit_heads WHERE tenant_id = :t", t=tenant_id)
    result = runner.invoke(args=["audit", "verify", "--tenant", "acme", "--adopt"])
    assert (
        result.exit_code == 1 and "signed the current end" not in result.output
    )  # a broken chain is not adopted


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
