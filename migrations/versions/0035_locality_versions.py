"""Locality rules: versions (drafts, scheduled changes, history) and per-method amount limits.

- `locality_rule_versions`: one version of a tenant's whole rule set per mode; the version in force at a
  moment is the one with the latest `effective_at` at or before it (null: a draft).
- `locality_rules.method_limits`: a method is offered only for amounts inside its limits.

Each tenant's existing rules (per mode) become its version 1, in force from the upgrade on: the hosted
page reads the version in force only (one query).

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import json
from datetime import UTC, datetime

import core.db
from core.ids import new_id
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "locality_rule_versions",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("effective_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("restored_from", sa.String(length=40), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_locality_rule_versions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_locality_rule_versions")),
        sa.UniqueConstraint(
            "tenant_id",
            "livemode",
            "number",
            name=op.f("uq_locality_rule_versions_tenant_id_livemode_number"),
        ),
    )
    op.create_index(
        "ix_locality_rule_versions_effective",
        "locality_rule_versions",
        ["tenant_id", "livemode", "effective_at"],
    )
    enable_tenant_rls("locality_rule_versions")
    with op.batch_alter_table("locality_rules") as batch_op:
        batch_op.add_column(sa.Column("method_limits", JSON, nullable=True))
    _backfill()


FIELDS = ("methods", "amount_limits", "required_fields", "surcharge_bps", "three_ds", "default_language")


def _loaded(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def _stamp(value: object) -> int:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _backfill() -> None:
    """Version 1 of every tenant and mode that has rules: its rules as they stand."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    now = datetime.now(UTC)
    versions = sa.table(
        "locality_rule_versions",
        *(sa.column(name) for name in ("tenant_id", "id", "livemode", "number", "effective_at", "note")),
        sa.column("rules", JSON),
        sa.column("created_by"),
        sa.column("created_at", core.db.UTCDateTime()),
        sa.column("updated_at", core.db.UTCDateTime()),
    )
    for (tenant_id,) in bind.execute(sa.text("SELECT id FROM tenants")).all():
        if postgres:  # FORCE row-level security: the owner sees a tenant's rows only inside its context
            bind.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant_id})
        rows = bind.execute(
            sa.text(
                "SELECT id, livemode, country, created_at, updated_at, " + ", ".join(FIELDS) + " "
                "FROM locality_rules WHERE tenant_id = :t ORDER BY country"
            ),
            {"t": tenant_id},
        ).mappings()
        by_mode: dict[bool, list[dict[str, object]]] = {}
        for row in rows:
            by_mode.setdefault(bool(row["livemode"]), []).append(
                {
                    "id": row["id"],
                    "country": row["country"],
                    **{name: _loaded(row[name]) for name in FIELDS},
                    "method_limits": None,
                    "created_at": _stamp(row["created_at"]),
                    "updated_at": _stamp(row["updated_at"]),
                }
            )
        for livemode, rules in by_mode.items():
            op.bulk_insert(
                versions,
                [
                    {
                        "tenant_id": tenant_id,
                        "id": new_id("lrver"),
                        "livemode": livemode,
                        "number": 1,
                        "rules": sorted(rules, key=lambda r: (r["country"] != "*", r["country"])),
                        "effective_at": now,
                        "note": "The rules as they stood when versions began",
                        "created_by": "system:migration",
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
    if postgres:
        bind.execute(sa.text("SELECT set_config('app.tenant_id', '', true)"))


def downgrade() -> None:
    with op.batch_alter_table("locality_rules") as batch_op:
        batch_op.drop_column("method_limits")
    disable_tenant_rls("locality_rule_versions")
    op.drop_index("ix_locality_rule_versions_effective", table_name="locality_rule_versions")
    op.drop_table("locality_rule_versions")
