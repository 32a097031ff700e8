"""The schema stays distributable by `tenant_id` (docs/scaling.md, "Distributing the tenant tables on
Citus"), checked on the migrated PostgreSQL catalogue, not on the models.

The doc's DDL is the one list: its `create_reference_table` calls must name exactly the tables without a
`tenant_id`, its `create_distributed_table` calls exactly the tables with one (and the ORM's tenant
tables), in an order that creates every table after the ones it references; its "To do" table must name
exactly the constraints that break Citus's rules today. A new table, key or foreign key that breaks a rule
fails here, and so does a rework that the doc still lists as to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, text

from core.db import tenant_tables
from core.jobs.runtime import Runtime
from tests.fixtures import ROOT, is_postgres

pytestmark = pytest.mark.postgres

DOC = ROOT / "docs" / "scaling.md"
#: Alembic's own bookkeeping: neither a tenant table nor a reference table (it stays on the coordinator).
ALEMBIC = "alembic_version"


def _doc_section(heading: str) -> str:
    text_ = DOC.read_text()
    start = text_.index(heading)
    following = re.search(r"^#{2,3} ", text_[start + len(heading) :], flags=re.MULTILINE)
    return text_[start : start + len(heading) + (following.start() if following else len(text_))]


@dataclass(frozen=True)
class DocDDL:
    #: Reference tables, in the order the DDL creates them.
    reference: tuple[str, ...]
    #: (table, distribution column, colocate_with or None), in order.
    distributed: tuple[tuple[str, str, str | None], ...]
    #: The constraints listed under "To do before distributing".
    todo: frozenset[str]

    @property
    def order(self) -> dict[str, int]:
        names = [*self.reference, *(t for t, _, _ in self.distributed)]
        return {name: i for i, name in enumerate(names)}


def _doc_ddl() -> DocDDL:
    section = _doc_section("### The DDL")
    sql = re.search(r"```sql\n(.*?)```", section, flags=re.DOTALL)
    assert sql, "docs/scaling.md: the DDL section has no ```sql block"
    reference = tuple(re.findall(r"create_reference_table\('(\w+)'\)", sql.group(1)))
    distributed = tuple(
        (table, column, colocate or None)
        for table, column, colocate in re.findall(
            r"create_distributed_table\('(\w+)', '(\w+)'(?:, colocate_with => '(\w+)')?\)", sql.group(1)
        )
    )
    todo = frozenset(re.findall(r"^\| `(\w+)` \|", _doc_section("### To do before distributing"), re.M))
    return DocDDL(reference=reference, distributed=distributed, todo=todo)


@dataclass(frozen=True)
class Key:
    table: str
    name: str
    #: "p" primary key, "u" unique constraint, "i" unique index without a constraint, "f" foreign key.
    kind: str
    columns: tuple[str, ...]
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    #: Every table of the public schema -> its columns' types.
    tables: dict[str, dict[str, str]]
    keys: tuple[Key, ...]

    def has_tenant(self, table: str) -> bool:
        return "tenant_id" in self.tables[table]


def _catalogue(conn: Connection) -> Catalogue:
    tables: dict[str, dict[str, str]] = {}
    for table, column, type_ in conn.execute(
        text(
            """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            """
        )
    ):
        tables.setdefault(table, {})[column] = type_
    keys = [
        Key(table, name, kind, tuple(columns), ref_table, tuple(ref_columns or ()))
        for table, name, kind, columns, ref_table, ref_columns in conn.execute(
            text(
                """
                SELECT r.relname, con.conname, con.contype,
                       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, pos)
                             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                             ORDER BY k.pos),
                       f.relname,
                       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, pos)
                             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
                             ORDER BY k.pos)
                FROM pg_constraint con
                JOIN pg_class r ON r.oid = con.conrelid
                JOIN pg_namespace n ON n.oid = r.relnamespace
                LEFT JOIN pg_class f ON f.oid = con.confrelid
                WHERE n.nspname = 'public' AND con.contype IN ('p', 'u', 'f', 'x')
                UNION ALL
                SELECT t.relname, ic.relname, 'i',
                       ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(num, pos)
                             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
                             ORDER BY k.pos),
                       NULL, NULL
                FROM pg_index i
                JOIN pg_class ic ON ic.oid = i.indexrelid
                JOIN pg_class t ON t.oid = i.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = 'public' AND i.indisunique
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                """
            )
        )
    ]
    return Catalogue(tables=tables, keys=tuple(keys))


@pytest.fixture(scope="module")
def _read_catalogue(rt: Runtime) -> Iterator[Catalogue | None]:
    if not is_postgres(rt.settings):
        yield None
        return
    with rt.db.owner_engine.connect() as conn:
        yield _catalogue(conn)


@pytest.fixture
def catalogue(_read_catalogue: Catalogue | None) -> Catalogue:
    assert _read_catalogue is not None
    return _read_catalogue


def test_the_docs_tables_are_exactly_the_catalogues(catalogue: Catalogue) -> None:
    ddl = _doc_ddl()
    distributed = [table for table, _, _ in ddl.distributed]
    assert len(set(ddl.reference)) == len(ddl.reference) and len(set(distributed)) == len(distributed)
    without_tenant = {t for t in catalogue.tables if not catalogue.has_tenant(t)} - {ALEMBIC}
    with_tenant = {t for t in catalogue.tables if catalogue.has_tenant(t)}
    assert set(ddl.reference) == without_tenant, "docs/scaling.md's reference tables"
    assert set(distributed) == with_tenant, "docs/scaling.md's distributed tables"
    assert with_tenant == set(tenant_tables()), "a table with tenant_id that the ORM does not scope"
    assert ALEMBIC in catalogue.tables  # the migrated schema, not an empty one


def test_every_tenant_table_is_distributed_by_tenant_id_in_one_colocation_group(
    catalogue: Catalogue,
) -> None:
    ddl = _doc_ddl()
    (anchor, column, colocate), *rest = ddl.distributed
    assert column == "tenant_id" and colocate is None
    assert all(column == "tenant_id" and colocate == anchor for _, column, colocate in rest), rest
    # Co-location needs one type for the distribution column everywhere.
    types = {catalogue.tables[table]["tenant_id"] for table, _, _ in ddl.distributed}
    assert types == {catalogue.tables["tenants"]["id"]}, types


def test_every_key_of_a_tenant_table_leads_with_tenant_id_but_the_listed_to_dos(
    catalogue: Catalogue,
) -> None:
    ddl = _doc_ddl()
    breaking: set[str] = set()
    for key in catalogue.keys:
        if not catalogue.has_tenant(key.table) or key.kind == "f":
            continue
        if key.kind == "p":
            assert key.columns[0] == "tenant_id", f"{key.table}'s primary key {key.columns}"
        elif key.columns[:1] != ("tenant_id",):
            breaking.add(key.name)  # a unique constraint, index or exclusion a shard cannot check
    assert breaking == ddl.todo, (
        f"unique keys without a leading tenant_id: {sorted(breaking - ddl.todo)} (lead with tenant_id); "
        f"listed as to do but fixed: {sorted(ddl.todo - breaking)} (take them off docs/scaling.md)"
    )


def test_foreign_keys_follow_citus_rules_and_the_ddl_creates_referenced_tables_first(
    catalogue: Catalogue,
) -> None:
    order = _doc_ddl().order
    for key in (k for k in catalogue.keys if k.kind == "f"):
        assert key.ref_table is not None
        described = f"{key.table} {key.columns} -> {key.ref_table} {key.ref_columns} ({key.name})"
        if catalogue.has_tenant(key.ref_table):
            # Between tenant tables: tenant_id on both sides, paired with each other.
            assert catalogue.has_tenant(key.table), f"a reference table points at a tenant table: {described}"
            pairs = dict(zip(key.columns, key.ref_columns, strict=True))
            assert pairs.get("tenant_id") == "tenant_id", f"a foreign key without tenant_id: {described}"
        assert order[key.ref_table] <= order[key.table], f"the DDL creates {key.table} first: {described}"
