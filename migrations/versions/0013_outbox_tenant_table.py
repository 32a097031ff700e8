"""outbox: a tenant table like the others ((tenant_id, id), forced RLS), system jobs in system_outbox,
and the relay's two SECURITY DEFINER functions

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = "id, queue, job, kwargs, created_at, available_at, delivered_at, attempts, last_error"


def upgrade() -> None:
    op.create_table(
        "system_outbox",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("queue", sa.String(length=20), nullable=False),
        sa.Column("job", sa.String(length=200), nullable=False),
        sa.Column(
            "kwargs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("available_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_outbox")),
    )
    with op.batch_alter_table("system_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_outbox_available_at"), ["available_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_system_outbox_delivered_at"), ["delivered_at"], unique=False)
    # Jobs of no tenant move to their own table; every outbox row left has a tenant.
    op.execute(f"INSERT INTO system_outbox ({COLUMNS}) SELECT {COLUMNS} FROM outbox WHERE tenant_id IS NULL")
    op.execute("DELETE FROM outbox WHERE tenant_id IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("tenant_id", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_constraint("pk_outbox", type_="primary")
        batch_op.create_primary_key("pk_outbox", ["tenant_id", "id"])
        batch_op.create_foreign_key(batch_op.f("fk_outbox_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"])
    enable_tenant_rls("outbox")
    if op.get_bind().dialect.name == "postgresql":
        # The relay (application role, no tenant in context) learns which rows are due, and locks them for
        # its transaction; it then reads and marks each tenant's rows under that tenant's RLS.
        op.execute("""
            CREATE FUNCTION kassa_outbox_due(p_now timestamptz, p_limit integer)
            RETURNS TABLE (tenant_id varchar, id varchar)
            LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
                SELECT tenant_id, id FROM outbox
                WHERE delivered_at IS NULL AND available_at <= p_now
                ORDER BY id LIMIT least(greatest(p_limit, 0), 1000)
                FOR UPDATE SKIP LOCKED
            $$""")
        # Housekeeping: delivered rows (job names and ids, already on RQ) older than p_before.
        op.execute("""
            CREATE FUNCTION kassa_outbox_prune(p_before timestamptz)
            RETURNS bigint
            LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
                WITH gone AS (
                    DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < p_before RETURNING 1
                )
                SELECT count(*) FROM gone
            $$""")
        op.execute("REVOKE ALL ON FUNCTION kassa_outbox_due(timestamptz, integer) FROM PUBLIC")
        op.execute("REVOKE ALL ON FUNCTION kassa_outbox_prune(timestamptz) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS kassa_outbox_due(timestamptz, integer)")
        op.execute("DROP FUNCTION IF EXISTS kassa_outbox_prune(timestamptz)")
    disable_tenant_rls("outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_outbox_tenant_id_tenants"), type_="foreignkey")
        batch_op.drop_constraint("pk_outbox", type_="primary")
        batch_op.create_primary_key("pk_outbox", ["id"])
        batch_op.alter_column("tenant_id", existing_type=sa.String(length=40), nullable=True)
    op.execute(f"INSERT INTO outbox ({COLUMNS}) SELECT {COLUMNS} FROM system_outbox")
    with op.batch_alter_table("system_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_outbox_delivered_at"))
        batch_op.drop_index(batch_op.f("ix_system_outbox_available_at"))
    op.drop_table("system_outbox")
