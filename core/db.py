"""Base, naming convention, engines, sessions, tenant scoping and the unit of work.

Tenant isolation is enforced twice:

* here, in the ORM: every SELECT/UPDATE/DELETE that touches a `TenantScoped` model gets
  `tenant_id = <current tenant>` added by one `do_orm_execute` hook, and such a query with no tenant in
  context raises `TenantContextRequired` instead of returning every tenant's rows;
* in PostgreSQL: row-level security on `current_setting('app.tenant_id', true)`, which `after_begin`
  sets with `set_config(..., is_local => true)` (SET LOCAL) at the start of every transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    ForeignKey,
    MetaData,
    Select,
    String,
    column,
    create_engine,
    event,
    select,
    table,
    text,
    update,
)
from sqlalchemy import (
    Enum as SAEnum,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.selectable import AliasedReturnsRows, CompoundSelect, FromGrouping, Join, TableClause
from sqlalchemy.types import TypeDecorator

from core.errors import KassaError, NotFound
from core.ids import has_prefix
from core.tenant_cache import CACHE_INFO, TenantCache

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class TenantContextRequired(RuntimeError):
    """A query touched a tenant-owned table while no tenant was in context."""


class TenantMismatch(RuntimeError):
    """An object of one tenant was about to be written in another tenant's context."""


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive values; we give back aware ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime (use the Clock)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum: type[StrEnum], length: int) -> SAEnum:
    """A StrEnum stored as VARCHAR(length) by value, loaded back as the enum member."""
    return SAEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


#: Shared column types.
IdStr = Annotated[str, mapped_column(String(40))]
Timestamp = Annotated[datetime, mapped_column(UTCDateTime())]
JSON_TYPE = JSON().with_variant(JSONB(), "postgresql")
JsonDict = Annotated[dict[str, Any], mapped_column(JSON_TYPE)]
JsonList = Annotated[list[Any], mapped_column(JSON_TYPE)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class TenantScoped:
    """Mixin for every tenant-owned table: `tenant_id` leads the primary key.

    Subclasses declare `id` as the second primary-key column, and every foreign key to another
    tenant-owned table as a composite `(tenant_id, x_id)` one, so a row can never point across tenants.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[str]:
        # Composite FKs between tenant tables are declared per model; this one ties the row to a tenant.
        return mapped_column(String(40), ForeignKey("tenants.id"), primary_key=True, sort_order=-100)


def tenant_tables() -> list[str]:
    """Names of the tenant-owned tables, from the metadata (tests iterate this, so none is forgotten)."""
    return sorted(
        str(mapper.local_table.name)  # type: ignore[attr-defined]
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, TenantScoped)
    )


class KassaSession(Session):
    """A Session that knows its tenant (`info["tenant_id"]`) and its after-commit callbacks."""

    @property
    def tenant_id(self) -> str | None:
        return self.info.get("tenant_id")

    def bind_tenant(self, tenant_id: str | None) -> None:
        """Switch the tenant context, in the ORM and (if a transaction is open) in PostgreSQL now."""
        unchanged = "tenant_id" in self.info and self.info["tenant_id"] == tenant_id
        if not unchanged and (self.new or self.dirty or self.deleted):
            # What was added under the old tenant is written under it (audit rows wait for the next
            # flush, core/audit/service.py), before row-level security and the ORM's guard move on.
            self.flush()
        self.info["tenant_id"] = tenant_id
        # The same tenant again: `after_begin` (or the bind that set it) already told PostgreSQL, and each
        # `set_config` is a round trip on the hot paths (the page, the confirm, the relay after commit).
        if self.in_transaction() and not unchanged:
            for conn in self._connections_for_states():
                _set_db_tenant(conn, tenant_id)

    def _connections_for_states(self) -> list[Connection]:
        transaction = self.get_transaction()
        if transaction is None:
            return []
        # `_connections` holds each connection twice (under its engine and under itself): one
        # `set_config` per connection is enough, and each is a round trip.
        unique = {id(conn): conn for conn, *_ in transaction._connections.values()}
        return list(unique.values())


#: The tenant this connection's open transaction has told PostgreSQL (`connection.info`), so a savepoint's
#: `after_begin` or a bind to the same tenant costs no round trip. Kassa only ever sets the tenant with SET
#: LOCAL, so when a transaction ends (commit, rollback) and when the pool hands the connection out, the
#: setting is known to be empty again: a transaction that begins without a tenant sends nothing. A rollback
#: to a savepoint undoes a SET LOCAL made after it, so there the value becomes unknown (forgotten) and the
#: next bind sends it. A stale value could only skip a `set_config`, and the transaction would then see no
#: tenant's rows at all (fail closed).
_TENANT_SET = "kassa.tenant_set"


#: (tenant id, its `tenants.cache_version`) as read in the round trip that set the tenant for this
#: connection's transaction (core/tenant_cache.py); forgotten with `_TENANT_SET`.
_TENANT_VERSION = "kassa.tenant_version"
#: `session.info` flag: this transaction wrote to a table the tenant cache holds (until it ends).
_CACHE_BYPASS = "kassa.cache_bypass"


def _set_db_tenant(connection: Connection, tenant_id: str | None) -> None:
    if connection.dialect.name == "postgresql":
        value = tenant_id or ""
        if connection.info.get(_TENANT_SET) == value:
            return
        # set_config(..., true) is SET LOCAL: a plain SET would outlive the transaction and leak the
        # tenant to the next request that borrows this pooled connection. The tenant's cache version
        # comes back in the same round trip (core/tenant_cache.py).
        version = connection.execute(
            text(
                "SELECT set_config('app.tenant_id', :t, true), "
                "(SELECT cache_version FROM tenants WHERE id = :t)"
            ),
            {"t": value},
        ).first()
        connection.info[_TENANT_SET] = value
        if value and version is not None and version[1] is not None:
            connection.info[_TENANT_VERSION] = (value, int(version[1]))
        else:
            connection.info.pop(_TENANT_VERSION, None)


def note_tenant_set(session: Session, tenant_id: str, *, cache_version: int | None = None) -> None:
    """Tell the memo that a statement of this transaction has already set the tenant in PostgreSQL (as
    `tenants.resolution.tenant_of_checkout_session` does in the same round trip as its lookup), and the
    tenant's cache version if that statement read it too."""
    info = session.connection().info
    info[_TENANT_SET] = tenant_id
    if cache_version is not None:
        info[_TENANT_VERSION] = (tenant_id, cache_version)
    else:
        info.pop(_TENANT_VERSION, None)


def tenant_version(session: Session) -> int | None:
    """The bound tenant's `cache_version` as this transaction read it (beginning the transaction if none
    is open: its first round trip reads it), or None where it is unknown or must not be trusted: no tenant,
    SQLite, or a transaction that wrote (or is about to write) to a cached table (its own change is not
    committed yet)."""
    tenant_id = session.info.get("tenant_id")
    if not tenant_id or session.info.get(_CACHE_BYPASS):
        return None
    if session.get_bind().dialect.name != "postgresql":
        return None
    # A change not flushed yet: the query it replaces would have flushed it first (autoflush).
    if _writes_cached_table((*session.new, *session.dirty, *session.deleted)):
        return None
    known = session.connection().info.get(_TENANT_VERSION)
    if known is None or known[0] != tenant_id:
        return None
    return int(known[1])


def cache_of(session: Session) -> TenantCache | None:
    cache = session.info.get(CACHE_INFO)
    return cache if isinstance(cache, TenantCache) else None


def cached(
    session: Session,
    name: str,
    key: Hashable,
    load: Callable[[], T],
    *,
    usable: Callable[[T], bool] | None = None,
) -> T:
    """`load()`'s value for the session's tenant, from this process's cache while the tenant's version is
    the one it was read under (and `usable(value)`, for values that also expire with time), else loaded
    and kept (core/tenant_cache.py). The session must be bound to a tenant."""
    cache = cache_of(session)
    version = tenant_version(session) if cache is not None else None
    if cache is None or version is None:
        return load()
    full_key = (session.info["tenant_id"], name, key)
    entry = cache.peek(full_key)
    if entry is not None and entry[0] == version:
        value: T = entry[1]
        if usable is None or usable(value):
            return value
    value = load()
    # Stored only if nothing this transaction did since made it its own (a write to a cached table).
    if tenant_version(session) == version:
        cache.put(full_key, version, value)
    return value


def _tenant_cleared(connection: Any, *_args: Any) -> None:
    # A connection the database dropped (a restart) is invalidated: its `info` cannot be reached until the
    # rollback in progress is over, and it is never used again; its replacement starts empty at checkout.
    if not connection.invalidated:
        connection.info[_TENANT_SET] = ""
        connection.info.pop(_TENANT_VERSION, None)


def _tenant_unknown(connection: Any, *_args: Any) -> None:
    if not connection.invalidated:
        connection.info.pop(_TENANT_SET, None)
        connection.info.pop(_TENANT_VERSION, None)


def _tenant_cleared_at_checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
    record.info[_TENANT_SET] = ""
    record.info.pop(_TENANT_VERSION, None)


@event.listens_for(KassaSession, "after_begin")
def _after_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    _set_db_tenant(connection, session.info.get("tenant_id"))


@event.listens_for(KassaSession, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent query already carries the criteria (propagate_to_loaders)
    if state.execution_options.get("kassa_unscoped"):
        return
    mappers = list(state.all_mappers)
    names = sorted(m.class_.__name__ for m in mappers if issubclass(m.class_, TenantScoped))
    if not names and state.is_select:
        names = _tenant_tables_beneath(state.statement)
    if not names:
        return
    tenant_id = state.session.info.get("tenant_id")
    if tenant_id is None:
        raise TenantContextRequired(f"query on tenant-owned {', '.join(names)} with no tenant in context")
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)
    )


def _tenant_tables_beneath(statement: Any) -> list[str]:
    """The tenant tables a SELECT reads below its own entities: from a subquery or a UNION of selects
    (`all_mappers` names only the outer statement's entities, and the criteria must reach the inner
    ones too). Only the FROM structure is walked (each SELECT's columns' and `select_from` tables,
    through joins, subqueries and compound selects): `get_final_froms()` or a full traversal would cost
    a millisecond a query."""
    if not isinstance(statement, Select):
        return []
    froms = _froms_of(statement)
    if all(isinstance(f, TableClause | Join) for f in froms):
        return []  # plain tables: all_mappers has seen their entities
    scoped = _tenant_table_names()
    return sorted({name for name in _tables_in(froms) if name in scoped})


def _froms_of(select_: Select[Any]) -> tuple[Any, ...]:
    return (*select_.columns_clause_froms, *select_._from_obj)


def _tables_in(froms: Iterable[Any]) -> Iterator[str]:
    for element in froms:
        if isinstance(element, TableClause):
            yield element.name
        elif isinstance(element, Join):
            yield from _tables_in((element.left, element.right))
        elif isinstance(element, Select):
            yield from _tables_in(_froms_of(element))
        elif isinstance(element, CompoundSelect):
            yield from _tables_in(element.selects)
        elif isinstance(element, FromGrouping | AliasedReturnsRows):  # subqueries, aliases, CTEs
            yield from _tables_in((element.element,))


#: The tenant tables' names, with the number of mappers they were read from (models import lazily).
_tenant_names: tuple[int, frozenset[str]] = (0, frozenset())


def _tenant_table_names() -> frozenset[str]:
    global _tenant_names
    count = len(Base.registry.mappers)
    if _tenant_names[0] != count:
        _tenant_names = (count, frozenset(tenant_tables()))
    return _tenant_names[1]


#: `session.info` key of what one transaction may remember (`transaction_memo`).
_MEMO = "kassa.memo"


def transaction_memo(session: Session) -> dict[str, Any]:
    """A dict that lives as long as the session's current transaction (a rollback, of a savepoint too,
    ends it): for what
    a transaction has already read or written and need not ask the database again (the active data key,
    the last event sequence of an object it holds locked). Everything in it must be safe to forget."""
    memo: dict[str, Any] = session.info.setdefault(_MEMO, {})
    return memo


def created_in_transaction(session: Session, object_id: str) -> bool:
    """Whether this transaction inserted the tenant-owned row with this id (no other transaction can
    have written anything about it yet)."""
    created: set[str] = transaction_memo(session).get("created", set())
    return object_id in created


@event.listens_for(KassaSession, "after_flush")
def _remember_created(session: Session, flush_context: object) -> None:
    ids = (getattr(obj, "id", None) for obj in session.new if isinstance(obj, TenantScoped))
    new = [object_id for object_id in ids if isinstance(object_id, str)]
    if new:
        transaction_memo(session).setdefault("created", set()).update(new)


@event.listens_for(KassaSession, "after_transaction_end")
def _forget_memo(session: Session, transaction: SessionTransaction) -> None:
    # The real transaction; not a released savepoint (what it did stands) nor the subtransaction every
    # flush opens and closes. A rolled-back savepoint forgets in `after_rollback`.
    if transaction.parent is None:
        session.info.pop(_MEMO, None)
        session.info.pop(_CACHE_BYPASS, None)


#: Tables whose rows the tenant cache holds (core/tenant_cache.py; their triggers, migration 0037).
CACHED_TABLES: frozenset[str] = frozenset(
    {"locality_rule_versions", "locality_rules", "api_keys", "webhook_endpoints", "vault_data_keys"}
)


def _writes_cached_table(objects: Iterable[object]) -> bool:
    return any(getattr(type(obj), "__tablename__", None) in CACHED_TABLES for obj in objects)


@event.listens_for(KassaSession, "before_flush")
def _bypass_cache_after_write(session: Session, flush_context: object, instances: object) -> None:
    if _writes_cached_table((*session.new, *session.dirty, *session.deleted)):
        session.info[_CACHE_BYPASS] = True


@event.listens_for(KassaSession, "do_orm_execute")
def _bypass_cache_after_bulk_write(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    tables = {getattr(m.local_table, "name", None) for m in state.all_mappers}
    if tables & CACHED_TABLES:
        state.session.info[_CACHE_BYPASS] = True


@event.listens_for(KassaSession, "after_rollback")
def _forget_memo_on_rollback(session: Session) -> None:
    session.info.pop(_MEMO, None)


@event.listens_for(KassaSession, "before_flush")
def _stamp_tenant(session: Session, flush_context: object, instances: object) -> None:
    tenant_id = session.info.get("tenant_id")
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantScoped):
            continue
        current = obj.tenant_id
        if current is None:
            if tenant_id is None:
                raise TenantContextRequired(f"new {type(obj).__name__} with no tenant in context")
            obj.tenant_id = tenant_id
        elif tenant_id is not None and current != tenant_id and not session.info.get("kassa_unscoped"):
            raise TenantMismatch(f"{type(obj).__name__} of tenant {current} written in tenant {tenant_id}")


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def get_by_id(
    session: Session, model: type[T], row_id: str, *, prefix: str, what: str, lock: bool = False
) -> T:
    """The current tenant's `model` row `row_id`; NotFound for a malformed id, an unknown one, or another
    tenant's (existence is never leaked). `lock` makes it a locking read (`for_update`)."""
    if not has_prefix(row_id, prefix):
        raise NotFound(f"No such {what}: {row_id!r}.", param="id")
    query: Select[Any] = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    if lock:
        query = for_update(session, query, model, row_id)
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"No such {what}: {row_id!r}.", param="id")
    return found  # type: ignore[no-any-return]


def for_update(session: Session, query: Select[Any], model: type[Any], row_id: str) -> Select[Any]:
    """`query` as a locking read of `model` row `row_id`, fresh from the database.

    PostgreSQL: SELECT … FOR UPDATE. SQLite has no row locks; there a no-op UPDATE of the row takes the
    database write lock first, so transactions that read-then-write (confirm, refunds) still run one after
    another. `populate_existing`: an object loaded earlier in the request is refreshed, not trusted.
    """
    if session.get_bind().dialect.name == "sqlite":
        table = model.__table__
        session.execute(update(table).where(table.c.id == row_id).values(id=table.c.id))
    return query.with_for_update().execution_options(populate_existing=True)


#: `DATABASE_POOLER` values: what sits between Kassa and PostgreSQL.
POOLERS = ("", "session", "transaction")


def make_engine(url: str, *, pooler: str = "", read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`. `pooler="transaction"`: the connections go through a pooler in transaction
    mode (pgbouncer `pool_mode = transaction`), where each transaction may run on another server
    connection, so nothing may outlive a transaction on the server (docs/operations.md, "Connection
    pooling"). `read_only`: every transaction is `BEGIN READ ONLY` on PostgreSQL (the analytics database,
    a hot standby, where a write would fail anyway: it fails the same way on a primary)."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if url not in ("sqlite://", "sqlite:///:memory:"):
            raw = engine.raw_connection()
            try:
                # WAL: readers never wait for the writer (the embedded demo's web and worker threads).
                raw.driver_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[union-attr]
            finally:
                raw.close()
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if read_only:
        # psycopg's read_only: the BEGIN itself says READ ONLY, no extra round trip per transaction.
        kwargs["execution_options"] = {**kwargs.get("execution_options", {}), "postgresql_readonly": True}
    if pooler == "transaction":
        # psycopg prepares a statement on the server after its fifth run on a connection (`_pg3_0`, …)
        # and reuses it by name; behind a transaction pooler the next run may land on a server connection
        # that never saw it ("prepared statement does not exist" / "already exists"). None: never prepare.
        # Tenant isolation needs nothing more: the tenant is only ever SET LOCAL, so it ends with the
        # transaction whichever server connection ran it.
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args["prepare_threshold"] = None
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    for name in ("commit", "rollback"):
        event.listen(engine, name, _tenant_cleared)
    event.listen(engine, "rollback_savepoint", _tenant_unknown)
    event.listen(engine.pool, "checkout", _tenant_cleared_at_checkout)
    return engine


class UnitOfWork:
    """One transaction; the only place that commits. Callbacks registered with `on_commit` run after it."""

    def __init__(self, session: KassaSession) -> None:
        self.session = session
        self._after_commit: list[Callable[[], None]] = []
        self._batches: dict[tuple[object, object], list[Any]] = {}

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def on_commit_batched(
        self, callback: Callable[[object, list[Any]], None], key: object, item: Any
    ) -> None:
        """Collect `item` and, after the commit, call `callback(key, items)` once for all items of that
        callback and key: the outbox relays a transaction's jobs of one tenant in one pass, not one each."""
        batch = self._batches.get((callback, key))
        if batch is None:
            batch = self._batches[(callback, key)] = []
            self._after_commit.append(lambda: callback(key, batch))
        batch.append(item)

    def bind_tenant(self, tenant_id: str | None) -> None:
        self.session.bind_tenant(tenant_id)

    def commit(self) -> None:
        self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        self._batches = {}
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        self.session.rollback()
        self._after_commit.clear()
        self._batches = {}


class Database:
    """Engines and the session factory for one process (built by create_app or a worker entry point)."""

    def __init__(
        self,
        app_url: str,
        owner_url: str | None = None,
        *,
        pooler: str = "",
        read_only: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        self.app_url = app_url
        self.owner_url = owner_url or app_url
        self.pooler = pooler
        self.read_only = read_only
        self.engine = make_engine(app_url, pooler=pooler, read_only=read_only, **engine_kwargs)
        self._owner_engine: Engine | None = self.engine if self.owner_url == app_url else None
        #: What this process keeps of tenants between transactions (core/tenant_cache.py).
        self.cache = TenantCache()
        self.session_factory = sessionmaker(
            self.engine, class_=KassaSession, expire_on_commit=False, info={CACHE_INFO: self.cache}
        )

    @property
    def owner_engine(self) -> Engine:
        if self._owner_engine is None:
            self._owner_engine = make_engine(self.owner_url, pooler=self.pooler)
        return self._owner_engine

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def tenant_ids(self) -> list[str]:
        """Every tenant's id, in id order, for work that visits each tenant in turn (sweepers, checks,
        key rotation). The tenants table has no row-level security: it is the list of tenants."""
        tenants = table("tenants", column("id", String))
        with self.unit_of_work() as uow:
            return list(uow.session.scalars(select(tenants.c.id).order_by(tenants.c.id)))

    @contextlib.contextmanager
    def unit_of_work(self, *, tenant_id: str | None = None, owner: bool = False) -> Iterator[UnitOfWork]:
        """Open a transaction for `tenant_id`; commit on success, roll back on error
        (but commit with a `KassaError` whose `keeps_effects` says the work done before it stands).

        `owner=True` connects as the owner role. Nothing in the application needs it: FORCE ROW LEVEL
        SECURITY binds the (non-superuser) owner as it binds the application role.
        """
        bind = self.owner_engine if owner else self.engine
        session = self.session_factory(bind=bind)
        session.info["tenant_id"] = tenant_id
        uow = UnitOfWork(session)
        try:
            yield uow
            uow.commit()
        except KassaError as exc:
            if exc.keeps_effects:
                uow.commit()
            else:
                uow.rollback()
            raise
        except BaseException:
            uow.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._owner_engine is not None and self._owner_engine is not self.engine:
            self._owner_engine.dispose()
