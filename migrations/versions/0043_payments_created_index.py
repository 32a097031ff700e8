"""The home dashboard's week without reading every payment: payments and refunds by creation time.

- `ix_payments_created (tenant_id, livemode, created_at)`: the dashboard's seven days of payments (at
  400,000 payments in a tenant it read all of them: 0.46 s; through this index the week's rows only).
- `ix_refunds_created (tenant_id, created_at)`: its refunds of the same days.

Revision ID: 0043
Revises: 0037
Create Date: 2026-12-01
"""

from alembic import op

revision = "0043"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_payments_created", "payments", ["tenant_id", "livemode", "created_at"])
    op.create_index("ix_refunds_created", "refunds", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_refunds_created", table_name="refunds")
    op.drop_index("ix_payments_created", table_name="payments")
