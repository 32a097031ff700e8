"""Event retention and per-tenant alert thresholds.

- `kassa_events_prune`: events are append-only for the application role (core/migrate.py APPEND_ONLY), so
  the retention job (core/webhooks/retention.py) deletes them through this SECURITY DEFINER function, for
  the tenant bound to the transaction only (`app.tenant_id`), at most `p_limit` at a time, older than
  `p_before` and below the id bound `p_bound` (ids start with their time: a primary-key range), keeping
  each event a webhook delivery still retries.
- `alert_thresholds`: a tenant's own alert thresholds (core/notifications/alerts.py), one row per tenant;
  the fields it leaves out fall back to the `KASSA_ALERT_*` defaults.
- `notification_recipients.next_email_at`: when a queued notification email's try is due, so the sweeper
  finds the ones whose job was lost (the queued ones of before: due now).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
SIGNATURE = "kassa_events_prune(timestamptz, varchar, integer)"


def upgrade() -> None:
    op.create_table(
        "alert_thresholds",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("values", JSON, nullable=False),
        sa.Column("updated_by", sa.String(length=40), nullable=True),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_alert_thresholds_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_alert_thresholds")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_alert_thresholds_tenant_id")),
    )
    enable_tenant_rls("alert_thresholds")
    with op.batch_alter_table("notification_recipients") as batch_op:
        batch_op.add_column(sa.Column("next_email_at", core.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE notification_recipients SET next_email_at = created_at WHERE email_status = 'queued'")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION kassa_events_prune(p_before timestamptz, p_bound varchar, p_limit integer)
            RETURNS bigint
            LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
                WITH doomed AS (
                    SELECT e.tenant_id, e.id FROM events e
                    WHERE e.tenant_id = current_setting('app.tenant_id', true)
                      AND e.id < p_bound AND e.created_at < p_before
                      AND NOT EXISTS (
                          SELECT 1 FROM webhook_deliveries d
                          WHERE d.tenant_id = e.tenant_id AND d.event_id = e.id AND d.status = 'pending'
                      )
                    ORDER BY e.id LIMIT least(greatest(p_limit, 0), 10000)
                ), gone AS (
                    DELETE FROM events e USING doomed
                    WHERE e.tenant_id = doomed.tenant_id AND e.id = doomed.id RETURNING 1
                )
                SELECT count(*) FROM gone
            $$""")
        op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
    with op.batch_alter_table("notification_recipients") as batch_op:
        batch_op.drop_column("next_email_at")
    disable_tenant_rls("alert_thresholds")
    op.drop_table("alert_thresholds")
