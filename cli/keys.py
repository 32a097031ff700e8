"""`kassa keys`: the master key and data keys (`rotate`), and tenants' API keys (`list`, `roll`, `revoke`)."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from typing import Any

import click
from flask.cli import with_appcontext

from cli.common import fail, runtime
from core.jobs.runtime import Runtime


@click.group(
    "keys",
    help="Keys: `rotate` re-wraps data keys under a new master key; `list`, `roll` and `revoke` manage "
    "tenants' API keys (pk_/sk_).",
)
def keys_group() -> None:
    pass


@keys_group.command(
    "rotate",
    help="Master key (not API keys: see `keys roll`). Re-wrap every data key and TOTP seed under "
    "KASSA_MASTER_KEY, so the previous master keys "
    "can be retired. Card data is not re-encrypted; safe to run while Kassa runs, and to run again.",
)
@click.option(
    "--batch", default=200, show_default=True, type=click.IntRange(1, 10_000), help="Rows per commit."
)
@click.option(
    "--data-keys",
    is_flag=True,
    help="Instead: give every tenant new card and audit data keys, re-encrypt its cards, destroy the old "
    "card keys (kassa cron does this by itself past KASSA_DATA_KEY_MAX_AGE_DAYS).",
)
@with_appcontext
def keys_rotate(batch: int, data_keys: bool) -> None:
    from core.vault.service import RotationFailed, rotate_master_key, rotation_plan

    rt = runtime()
    if data_keys:
        _rotate_data_keys(rt, batch)
        return
    if not rt.settings.previous_master_keys:
        fail(
            "KASSA_PREVIOUS_MASTER_KEYS is empty, so there is nothing to rotate from. To rotate: "
            "set KASSA_MASTER_KEY to the new key and KASSA_PREVIOUS_MASTER_KEYS to the old one(s), "
            "then run again."
        )
    click.echo(
        "Re-wrapping data keys and TOTP seeds under the current master key "
        f"({rt.kms.current_key_id.hex()}).\n"
        "Card numbers stay sealed under their tenant's data key: only the data keys' wrapping changes.\n"
        "Every process configured with both keys keeps working meanwhile; each batch commits on its own, "
        "so this can be interrupted and run again."
    )
    plan = rotation_plan(rt.db, kms=rt.kms)
    try:
        with click.progressbar(length=plan.total, label="Re-wrapping", file=sys.stderr) as bar:
            done = rotate_master_key(rt.db, kms=rt.kms, batch=batch, progress=bar.update, clock=rt.clock)
    except RotationFailed as exc:
        fail(str(exc))
        return
    left = rotation_plan(rt.db, kms=rt.kms)
    click.echo(
        f"Re-wrapped {done} key(s): {plan.data_keys} data key(s), {plan.totp_secrets} TOTP seed(s) and "
        f"{plan.audit_heads} signed audit head(s) were under a previous master key."
    )
    if left.total:
        click.echo(
            f"{left.total} key(s) were sealed under a previous master key while this ran: a process still "
            "uses the old KASSA_MASTER_KEY. Restart every process with the new key, then run this again."
        )
    elif left.audit_details:
        click.echo(
            f"Keep KASSA_PREVIOUS_MASTER_KEYS for now: the details of {left.audit_details} audit event(s) "
            "are sealed directly under a previous master key and cannot be re-encrypted without breaking "
            "the audit hash chain."
        )
    else:
        click.echo(
            "Nothing is left under a previous master key. Once every process runs with the new "
            "KASSA_MASTER_KEY, you may remove KASSA_PREVIOUS_MASTER_KEYS and retire the old key."
        )


def _rotate_data_keys(rt: Runtime, batch: int) -> None:
    from core.vault import lifetimes

    tenant_ids = rt.db.tenant_ids()
    started = sum(
        lifetimes.start_rotation(rt.db, tenant_id=t, kms=rt.kms, clock=rt.clock) for t in tenant_ids
    )
    click.echo(
        f"New card and audit data keys for {started} tenant(s); the old ones seal nothing more.\n"
        "Re-encrypting the cards under the new keys, one batch per commit (safe to interrupt and run again)."
    )
    total = lifetimes.cards_to_reencrypt(rt.db, tenant_ids=tenant_ids)
    cards = destroyed = 0
    with click.progressbar(length=total, label="Re-encrypting cards", file=sys.stderr) as bar:
        for tenant_id in tenant_ids:
            done, gone = lifetimes.finish_rotation(
                rt.db, tenant_id=tenant_id, kms=rt.kms, clock=rt.clock, batch=batch, progress=bar.update
            )
            cards, destroyed = cards + done, destroyed + gone
    click.echo(
        f"Re-encrypted {cards} card(s) and destroyed {destroyed} retired card key(s). Retired audit keys "
        "stay to read older audit details (the hash chain covers them)."
    )


# --- kassa keys: tenants' API keys ----------------------------------------------------------------------


_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text_value: str) -> timedelta:
    """`0`, `90s`, `30m`, `24h`, `7d` (a bare number is seconds)."""
    match = _DURATION.match(text_value.lower())
    if match is None:
        raise click.BadParameter("use a number with s, m, h or d, e.g. 24h, 30m or 0 (revoke at once).")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _key_line(record: Any, now: Any) -> str:
    from tenants import api_keys

    status = api_keys.status_of(record, now)
    until = f" until {record.expires_at:%Y-%m-%d %H:%M} UTC" if status == "expiring" else ""
    return f"{record.id}  {record.mode:<4}  {record.kind:<11}  {status}{until}  {record.display}"


@keys_group.command("list", help="List a tenant's API keys: id, mode, kind, status, and what the key shows.")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@with_appcontext
def keys_list(tenant_ref: str) -> None:
    from core.errors import KassaError
    from tenants import api_keys
    from tenants.lookup import tenant_by_ref

    rt = runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            uow.bind_tenant(tenant.id)
            now = rt.clock.now()
            lines = [_key_line(k, now) for k in api_keys.list_keys(uow.session, livemode=None)]
    except KassaError as exc:
        fail(exc.message)
        return
    for line in lines:
        click.echo(line)


@keys_group.command(
    "roll",
    help="Replace one of a tenant's API keys (not the master key: see `keys rotate`). Prints the new key "
    "once; the old one keeps working for --overlap (default 24h, at most 7d), or stops at once with "
    "--overlap 0.",
)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--key", "key_id", required=True, help="The key's id (key_…), from `kassa keys list`.")
@click.option(
    "--overlap", default="24h", show_default=True, help="How long the old key still works: 0, 30m, 24h, 7d."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the new key and the old one's id and end.")
@with_appcontext
def keys_roll(tenant_ref: str, key_id: str, overlap: str, as_json: bool) -> None:
    from core.context import Actor
    from core.errors import KassaError
    from tenants import api_keys
    from tenants.lookup import tenant_by_ref

    span = _duration(overlap)
    rt = runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            uow.bind_tenant(tenant.id)
            rolled = api_keys.roll(
                uow.session,
                rt.context(uow, Actor.system("cli")),
                key_id=key_id.strip(),
                livemode=None,
                overlap=span,
            )
            new_id, old_id = rolled.new.id, rolled.old.id
            ends = rolled.old.revoked_at or rolled.old.expires_at
    except KassaError as exc:
        fail(exc.message)
        return
    if as_json:
        click.echo(
            json.dumps(
                {
                    "key_id": new_id,
                    "key": rolled.key,
                    "replaced": old_id,
                    "replaced_until": int(ends.timestamp()) if ends else None,
                }
            )
        )
        return
    click.echo(f"New key:  {rolled.key}  ({new_id})")
    if span:
        click.echo(f"Old key {old_id} works until {ends:%Y-%m-%d %H:%M} UTC, then is refused.")
    else:
        click.echo(f"Old key {old_id} is revoked now.")
    click.echo("The new key is shown only now; store it in your server's secrets.")


@keys_group.command(
    "revoke",
    help="Revoke one of a tenant's API keys now: every later use is refused (401) and audited.",
)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--key", "key_id", required=True, help="The key's id (key_…), from `kassa keys list`.")
@with_appcontext
def keys_revoke(tenant_ref: str, key_id: str) -> None:
    from core.context import Actor
    from core.errors import KassaError
    from tenants import api_keys
    from tenants.lookup import tenant_by_ref

    rt = runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            uow.bind_tenant(tenant.id)
            record = api_keys.revoke(
                uow.session, rt.context(uow, Actor.system("cli")), key_id=key_id.strip(), livemode=None
            )
            line = (
                f"Key {record.id} ({record.display}) is revoked since {record.revoked_at:%Y-%m-%d %H:%M} UTC."
            )
    except KassaError as exc:
        fail(exc.message)
        return
    click.echo(line)


@keys_group.command(
    "create",
    help="Create a restricted secret key: it holds only the --permission names given (repeat the option; "
    "see docs/security.md). Prints the key once.",
)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--mode", type=click.Choice(["test", "live"]), default="test", show_default=True)
@click.option("--permission", "names", multiple=True, required=True, help="e.g. payments:read")
@with_appcontext
def keys_create(tenant_ref: str, mode: str, names: tuple[str, ...]) -> None:
    from core.context import Actor
    from core.errors import KassaError
    from tenants import api_keys, permissions
    from tenants.lookup import tenant_by_ref
    from tenants.models import KeyMode

    rt = runtime()
    try:
        chosen = permissions.parse(names)
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            uow.bind_tenant(tenant.id)
            record, key = api_keys.create_restricted(
                uow.session,
                rt.context(uow, Actor.system("cli")),
                tenant_id=tenant.id,
                mode=KeyMode(mode),
                permissions=chosen,
            )
            key_id, held = record.id, ", ".join(record.permissions or [])
    except KassaError as exc:
        fail(exc.message)
        return
    click.echo(f"Restricted key:  {key}  ({key_id})")
    click.echo(f"It holds: {held}. The key is shown only now; store it in your server's secrets.")
