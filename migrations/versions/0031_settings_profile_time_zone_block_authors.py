"""Settings screens: the business profile, each user's time zone, who added a block-list entry.

- `tenants.business_profile`: legal name, address, support email and URL (tenants/business_profile.py),
  shown on receipts.
- `users.time_zone`: the IANA zone the portal shows the user's dates in (null: UTC).
- `risk_block_list.created_by_type` / `created_by_id`: who added the entry (the audit actor); entries from
  before this migration have none.

Revision ID: 0031
Revises: 0028
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0031"
down_revision = "0028"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.add_column(
            sa.Column("business_profile", JSON, nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("risk_block_list") as batch_op:
        batch_op.add_column(sa.Column("created_by_type", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("created_by_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("risk_block_list") as batch_op:
        batch_op.drop_column("created_by_id")
        batch_op.drop_column("created_by_type")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.drop_column("business_profile")
