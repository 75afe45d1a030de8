"""Dagster's sqlite instance storage, with one SQLAlchemy engine and one kept connection per database file.

Dagster's sqlite storages build a new engine for every connection (``poolclass=NullPool``, then
``dispose()``). SQLAlchemy caches compiled statements per engine, so every one of the ~200 events
of a partition run paid engine creation and statement compilation again: about 1.3 s of a 5 s
run on this machine (/tmp profile in the #15 note). Here the engine is kept and reused, and so is
its connection: opening one reads the schema, and closing the last one checkpoints and removes the
WAL, ~0.4 s of the 2.2 s a run over a two-file source cost (0.5 ms per transaction, ~580 of them).

A kept connection holds no lock between transactions: every query still runs in its own transaction
(rolled back or committed before the connection goes back to the pool), so other processes
(``dagster dev``, the daemon, parallel CLI workers) lock exactly as they do against the stock classes,
and a WAL reader sees every commit made before its transaction began. ``wipe`` closes the kept
connections before Dagster deletes the files, and a forked child drops its parent's connections
unused (SQLAlchemy's rule for pools across ``fork``). The files on disk are the stock layout;
removing this class from dagster.yaml reads the same instance.

Configured in ``$DAGSTER_HOME/dagster.yaml`` (``cli`` writes it into a new home)::

    storage:
      custom:
        module: resources.instance_storage
        class: EngineCachingSqliteStorage
        config:
          base_dir: /path/to/home/storage
"""

import json
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy.engine import Connection, Engine

MAX_ENGINES = 64  # run shards a long-lived process (dagster dev) keeps engines for; least recently used go
KEPT_CONNECTIONS = 1  # per database file; threads beyond it open (and close) their own
_ALL_CACHES: "weakref.WeakSet[EngineCache]" = weakref.WeakSet()  # for a forked child to forget


class EngineCache:
    """Engines by connection string, least recently used dropped past ``MAX_ENGINES``. Thread-safe."""

    def __init__(self, busy_timeout: bool) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()
        # pooled connections go from thread to thread (dagster dev serves queries on several)
        self._connect_args = {"check_same_thread": False,
                              **({"timeout": SQLITE_BUSY_TIMEOUT_SECONDS} if busy_timeout else {})}
        _ALL_CACHES.add(self)

    def get(self, conn_string: str) -> tuple[Engine, bool]:
        """The engine for ``conn_string`` and whether it was made now."""
        with self._lock:
            engine = self._engines.get(conn_string)
            if engine is not None:
                self._engines.move_to_end(conn_string)
                return engine, False
            engine = create_engine(conn_string, pool_size=KEPT_CONNECTIONS, max_overflow=32, pool_timeout=60,
                                   connect_args=self._connect_args)
            self._engines[conn_string] = engine
            while len(self._engines) > MAX_ENGINES:
                self._engines.popitem(last=False)[1].dispose()
            return engine, True

    def __len__(self) -> int:
        return len(self._engines)

    def close_all(self) -> None:
        """Close every kept connection (before the files go); engines reconnect on their next use."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's connections without closing them (they are the parent's)."""
        for engine in list(self._engines.values()):
            engine.dispose(close=False)


def _forget_inherited_connections() -> None:
    for cache in list(_ALL_CACHES):
        cache.forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_connections)


class EngineCachingEventLogStorage(SqliteEventLogStorage):
    """One engine per shard (the index shard and each run's shard)."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        self.engines = EngineCache(busy_timeout=True)
        self._tables_seen: set[str] = set()
        super().__init__(base_dir, inst_data)
        self._finish_index_initialisation()

    def _finish_index_initialisation(self) -> None:
        """Finish an index database whose first initialisation was killed.

        The stock storage initialises the index shard only when its file is missing. A process
        killed after sqlite made the file but before the alembic stamp leaves a file without some
        tables, and every later process then fails on ``dynamic partitions table … does not exist``.
        An unstamped index is initialised again here (idempotent, and safe against a concurrent
        first initialisation: ``_initdb`` retries on the other process's lock or tables).
        """
        from dagster._core.storage.event_log.sqlite import sqlite_event_log
        from dagster._core.storage.sql import check_alembic_revision, get_alembic_config

        engine, _ = self.engines.get(self.conn_string_for_shard(INDEX_SHARD_NAME))
        with engine.connect() as conn:
            db_revision, head_revision = check_alembic_revision(get_alembic_config(sqlite_event_log.__file__), conn)
        if db_revision and head_revision:
            return
        self._initdb(engine, for_index_shard=True)
        self.reindex_events()
        self.reindex_assets()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine, _ = self.engines.get(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def wipe(self) -> None:
        """Dagster's wipe deletes the run shards and their WAL files: close the kept connections to them first."""
        self.engines.close_all()
        super().wipe()

    def has_table(self, table_name: str) -> bool:
        """Asked before most asset-check queries; a table once there stays (Dagster never drops one)."""
        if table_name in self._tables_seen:
            return True
        engine, _ = self.engines.get(self.conn_string_for_shard(INDEX_SHARD_NAME))
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables_seen.add(table_name)
        return found


class _OneEngine:
    """``connect()`` through one cached engine: the run and schedule storages' single database."""

    _conn_string: str

    def __init__(self, conn_string: str, inst_data=None) -> None:
        self.engines = EngineCache(busy_timeout=False)
        super().__init__(conn_string, inst_data)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        engine, _ = self.engines.get(self._conn_string)
        with engine.connect() as conn, conn.begin():
            yield conn


class EngineCachingRunStorage(_OneEngine, SqliteRunStorage):
    pass


class EngineCachingScheduleStorage(_OneEngine, SqliteScheduleStorage):
    pass


class EngineCachingSqliteStorage(DagsterSqliteStorage):
    """``DagsterSqliteStorage`` (same files, same config) built from the engine-caching storages."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        # DagsterSqliteStorage.__init__ would open the stock storages first; set its fields here instead
        self.base_dir = base_dir
        with _initialisation_lock(base_dir):
            self._run_storage = EngineCachingRunStorage.from_local(_runs_directory(base_dir))
            self._event_log_storage = EngineCachingEventLogStorage(_event_logs_directory(base_dir))
            self._schedule_storage = EngineCachingScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "EngineCachingSqliteStorage":
        return cls.from_local(inst_data=inst_data, **config_value)


@contextmanager
def _initialisation_lock(base_dir: str) -> Iterator[None]:
    """One process at a time opens (and, the first time, creates) the sqlite databases of a home.

    Dagster creates each database, its tables and its alembic stamp in separate steps, unguarded:
    four processes opening a new home at once (two `evidence-lake` commands, or one beside
    `dagster dev`) failed in 19 of 32 opens here, and some left two rows in ``alembic_version``,
    which breaks every later open. An exclusive ``flock`` held while the storages are built makes
    the first initialisation happen once; afterwards it only costs a lock per process start.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock; Dagster's own retries are all there is
        yield
        return
    os.makedirs(base_dir, exist_ok=True)
    with open(os.path.join(base_dir, ".init.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def instance_yaml(home: str) -> str:
    """The dagster.yaml the CLI writes into a new DAGSTER_HOME: this storage, thread-mirrored compute logs,
    no telemetry."""
    base = json.dumps(os.path.join(os.path.abspath(home), "storage"))  # a JSON string is a YAML string
    return ("telemetry:\n  enabled: false\n"
            "storage:\n  custom:\n    module: resources.instance_storage\n"
            "    class: EngineCachingSqliteStorage\n"
            f"    config:\n      base_dir: {base}\n"
            "compute_logs:\n  module: resources.compute_logs\n  class: ThreadMirrorComputeLogManager\n"
            f"  config:\n    base_dir: {base}\n")
