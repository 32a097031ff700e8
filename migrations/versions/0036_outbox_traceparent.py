"""Tracing and metrics: the outbox carries the trace context, and the outbox lag is readable.

- `outbox.traceparent`, `system_outbox.traceparent`: the W3C trace context of the span that wrote the
  row (core/telemetry.py); the relay hands it to RQ and the job's span continues that trace.
- `kassa_outbox_oldest(p_now)`: when the oldest due, undelivered row of any tenant became due, for the
  `kassa_outbox_lag_seconds` metric (core/jobs/metrics.py). SECURITY DEFINER like `kassa_outbox_due`:
  the application role learns one timestamp, no row.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("outbox", "system_outbox"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("traceparent", sa.String(length=55), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION kassa_outbox_oldest(p_now timestamptz)
            RETURNS timestamptz
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
                SELECT min(available_at) FROM outbox WHERE delivered_at IS NULL AND available_at <= p_now
            $$""")
        op.execute("REVOKE ALL ON FUNCTION kassa_outbox_oldest(timestamptz) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS kassa_outbox_oldest(timestamptz)")
    for table in ("system_outbox", "outbox"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("traceparent")
