"""The sandbox's SQLite database: its tables, one connection shared by all threads, transactions."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .money import dumps, loads

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    api_key TEXT PRIMARY KEY,
    access_token TEXT NOT NULL UNIQUE,
    issued_at INTEGER NOT NULL,
    expired_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    imp_uid TEXT PRIMARY KEY,
    merchant_uid TEXT NOT NULL,
    status TEXT NOT NULL,
    customer_uid TEXT,
    started_at INTEGER NOT NULL,
    data TEXT NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_merchant_uid ON payments (merchant_uid);
CREATE INDEX IF NOT EXISTS payments_customer_uid ON payments (customer_uid);
CREATE TABLE IF NOT EXISTS prepared (
    merchant_uid TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customers (
    customer_uid TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    merchant_uid TEXT PRIMARY KEY,
    customer_uid TEXT NOT NULL,
    schedule_at INTEGER NOT NULL,
    schedule_status TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (schedule_status, schedule_at);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    due_at REAL NOT NULL,
    payload TEXT NOT NULL,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (done_at, due_at);
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    due_at REAL NOT NULL,
    order_key INTEGER NOT NULL DEFAULT 0,
    reorder INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    imp_uid TEXT,
    merchant_uid TEXT,
    status TEXT,
    url TEXT,
    format TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    http_status INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (state, due_at);
CREATE TABLE IF NOT EXISTS mail (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    html TEXT NOT NULL,
    message_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    sandbox_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS mail_recipient ON mail (recipient COLLATE NOCASE);
"""

TABLES = ("kv", "tokens", "payments", "prepared", "customers", "schedules", "jobs", "webhooks", "mail")


class StoreClosed(RuntimeError):
    """The store was closed while a background thread still used it."""


class Database:
    """One SQLite connection shared by all threads, serialised by a re-entrant lock."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection and one lock: the sandbox is small, and this keeps every
        # read-modify-write (a cancel, a schedule run) atomic without SQLite busy errors.
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; later calls raise StoreClosed."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosed("sandbox store is closed")
        return self._conn

    @contextmanager
    def tx(self) -> Iterator["Database"]:
        """Run a block atomically; nested blocks join the outer transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db().execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer and self._conn is not None:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db().execute("COMMIT")

    def _all(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db().execute(sql, args).fetchall()

    def _one(self, sql: str, args: tuple = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._db().execute(sql, args).fetchone()

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db().execute(sql, args)

    def reset(self) -> None:
        """Forget everything (the control endpoint for tests)."""
        with self.tx():
            for table in TABLES:
                self._run(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            self._run("DELETE FROM sqlite_sequence")

    # -- key/value --------------------------------------------------------------------------

    def kv_get(self, key: str, default: Any = None) -> Any:
        """A small persisted value, e.g. the clock offset."""
        row = self._one("SELECT value FROM kv WHERE key = ?", (key,))
        return default if row is None else loads(row["value"])

    def kv_set(self, key: str, value: Any) -> None:
        """Persist a small value."""
        self._run(
            "INSERT INTO kv (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, dumps(value)),
        )
