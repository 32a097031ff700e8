"""What a process keeps of a tenant between requests, never stale after a change: each value is stored beside
the tenant's `cache_version` it was read under, and used only while the tenant's version is still that.

The version (`tenants.cache_version`, migration 0037) moves in the same transaction as every write to a
cached table (a trigger per table on PostgreSQL), and comes back in the round trip that sets the tenant at
the start of each transaction (`core.db.tenant_version`): a hit costs no round trip, and after a change
commits, the next transaction of every process, on any machine, sees the new version and reads again.

Used only on PostgreSQL (SQLite has neither the triggers nor `set_config`: there every call loads). Within
a transaction that wrote to a cached table (`cache_bypass`) nothing is read from or stored in the cache:
it may see its own uncommitted change, which must never be kept under the committed version.

Per `Database` (one per process in production): two apps in one process, as the tests build them, do not
share a cache, as two processes would not. `core.db.cached` reads and fills it; this module is the store.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Final

#: `session.info` key of the `TenantCache` of the session's `Database` (set by its sessionmaker).
CACHE_INFO: Final = "kassa.tenant_cache"
#: Entries kept per process: a few per tenant (locality rules per mode, webhook subscriptions, API keys,
#: data key rows).
DEFAULT_SIZE: Final = 8192


class TenantCache:
    """A bounded LRU of (version, value) entries, thread-safe. Values must not be mutated by readers."""

    def __init__(self, size: int = DEFAULT_SIZE, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[int, float, Any]] = OrderedDict()

    def peek(self, key: Hashable, *, max_age: float | None = None) -> tuple[int, Any] | None:
        """The entry's (version, value) whatever the version, or None (absent, or older than `max_age` s)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            version, stored_at, value = entry
            if max_age is not None and self._clock() - stored_at > max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return version, value

    def put(self, key: Hashable, version: int, value: Any) -> None:
        with self._lock:
            self._entries[key] = (version, self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
