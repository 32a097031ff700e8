"""Row-level security DDL, used by migrations (PostgreSQL only; a no-op elsewhere)."""

from __future__ import annotations

from alembic import op

POLICY = "tenant_isolation"


def enable_tenant_rls(table: str) -> None:
    """ENABLE + FORCE row-level security with the tenant policy on `table`.

    FORCE makes the policy apply to the table owner too; only superusers and BYPASSRLS roles skip it,
    and the application role is neither (core/migrate.py).
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    # NULLIF: an unset or cleared setting matches no row (never "every row").
    predicate = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')"
    op.execute(f"CREATE POLICY {POLICY} ON {table} USING ({predicate}) WITH CHECK ({predicate})")


def disable_tenant_rls(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
