"""Restricted API keys: `api_keys.permissions`, and `kassa_key_owner` answers it.

A key with null permissions holds every permission of its mode (every key so far: existing rows keep
exactly what they could do); a restricted key holds the sorted list of permission names stored with it
(tenants/permissions.py).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

_KEY_OWNER_V2 = """
    CREATE FUNCTION kassa_key_owner(p_hash text)
    RETURNS TABLE (
        tenant_id varchar, key_id varchar, kind varchar, mode varchar,
        revoked_at timestamptz, expires_at timestamptz
    )
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT tenant_id, id, kind, mode, revoked_at, expires_at FROM api_keys WHERE key_hash = p_hash
    $$"""

_KEY_OWNER_V3 = """
    CREATE FUNCTION kassa_key_owner(p_hash text)
    RETURNS TABLE (
        tenant_id varchar, key_id varchar, kind varchar, mode varchar,
        revoked_at timestamptz, expires_at timestamptz, permissions jsonb
    )
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT tenant_id, id, kind, mode, revoked_at, expires_at, permissions
        FROM api_keys WHERE key_hash = p_hash
    $$"""


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(sa.Column("permissions", JSON, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION kassa_key_owner(text)")
        op.execute(_KEY_OWNER_V3)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION kassa_key_owner(text)")
        op.execute(_KEY_OWNER_V2)
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("permissions")
