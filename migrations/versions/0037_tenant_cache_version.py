"""A version per tenant that every change to what processes cache of it moves: `tenants.cache_version`.

The hosted page, the session create, the confirm and the jobs keep a tenant's locality rules, API keys,
webhook subscriptions and data key rows in process (core/tenant_cache.py), each beside the tenant's
`cache_version` it was read under; the version comes back in the round trip that sets the tenant for a
transaction, so a cache hit costs nothing and a change is seen by the next transaction of every process.

On PostgreSQL a trigger on each cached table adds 1 to its tenant's version in the writing transaction
(so the change and the bump commit together): locality rules and their versions, API keys, webhook
endpoints (only the columns that decide which events an endpoint hears), data keys (the rows, wrapped; a
process keeps the unwrapped key apart, core/keys/service.py). SQLite keeps the column at 0 and has no
triggers: there the caches are not used (core/tenant_cache.py).

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

#: table -> the columns whose change moves the version (None: any change).
WATCHED: dict[str, tuple[str, ...] | None] = {
    "locality_rule_versions": None,
    "locality_rules": None,
    "api_keys": ("tenant_id", "kind", "mode", "key_hash", "revoked_at", "expires_at", "permissions"),
    "webhook_endpoints": ("tenant_id", "livemode", "events", "enabled", "deleted_at"),
    "vault_data_keys": None,
}


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.add_column(sa.Column("cache_version", sa.BigInteger(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name != "postgresql":
        return
    # Not SECURITY DEFINER: the writer (the application role) may update tenants; row-level security
    # already keeps it to the tenant it writes for, whose row this is.
    op.execute("""
        CREATE FUNCTION kassa_bump_tenant_cache() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE tenants SET cache_version = cache_version + 1 WHERE id = OLD.tenant_id;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.tenant_id <> OLD.tenant_id) THEN
                UPDATE tenants SET cache_version = cache_version + 1 WHERE id = NEW.tenant_id;
            END IF;
            RETURN NULL;
        END $$""")
    for table, columns in WATCHED.items():
        update = "UPDATE" if columns is None else f"UPDATE OF {', '.join(columns)}"
        op.execute(
            f"CREATE TRIGGER kassa_cache_version AFTER INSERT OR {update} OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION kassa_bump_tenant_cache()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS kassa_cache_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS kassa_bump_tenant_cache()")
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.drop_column("cache_version")
