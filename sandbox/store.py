"""The sandbox's own SQLite store: tokens, payments, billing keys, schedules, jobs, webhooks."""
from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .money import dumps, loads

log = logging.getLogger(__name__)

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
"""

_TABLES = ("kv", "tokens", "payments", "prepared", "customers", "schedules", "jobs", "webhooks")
_PAYMENT_SORTS = {
    "-started": ("started_at", True),
    "started": ("started_at", False),
    "-paid": ("paid_at", True),
    "paid": ("paid_at", False),
    "-updated": ("updated_at", True),
    "updated": ("updated_at", False),
}


class StoreClosed(RuntimeError):
    """The store was closed while a background thread still used it."""


class Store:
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
    def tx(self) -> Iterator["Store"]:
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
            for table in _TABLES:
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

    # -- tokens -----------------------------------------------------------------------------

    def token_for_key(self, api_key: str) -> sqlite3.Row | None:
        """The token issued to an API key, expired or not."""
        return self._one("SELECT * FROM tokens WHERE api_key = ?", (api_key,))

    def token_lookup(self, access_token: str) -> sqlite3.Row | None:
        """A token row by its value."""
        return self._one("SELECT * FROM tokens WHERE access_token = ?", (access_token,))

    def token_put(self, api_key: str, access_token: str, issued_at: int, expired_at: int) -> None:
        """Store the token of an API key, replacing the previous one."""
        self._run(
            "INSERT INTO tokens (api_key, access_token, issued_at, expired_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(api_key) DO UPDATE SET access_token = excluded.access_token, "
            "issued_at = excluded.issued_at, expired_at = excluded.expired_at",
            (api_key, access_token, issued_at, expired_at),
        )

    # -- payments ---------------------------------------------------------------------------

    def payment_save(self, payment: dict, meta: dict) -> None:
        """Insert or replace a payment (its public object and the sandbox's notes on it)."""
        self._run(
            "INSERT INTO payments (imp_uid, merchant_uid, status, customer_uid, started_at, data, meta) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(imp_uid) DO UPDATE SET "
            "merchant_uid = excluded.merchant_uid, status = excluded.status, "
            "customer_uid = excluded.customer_uid, started_at = excluded.started_at, "
            "data = excluded.data, meta = excluded.meta",
            (
                payment["imp_uid"],
                payment["merchant_uid"],
                payment["status"],
                payment.get("customer_uid"),
                payment["started_at"],
                dumps(payment),
                dumps(meta),
            ),
        )

    def payment_get(self, imp_uid: str) -> tuple[dict, dict] | None:
        """A payment and its meta by imp_uid."""
        row = self._one("SELECT data, meta FROM payments WHERE imp_uid = ?", (imp_uid,))
        return None if row is None else (loads(row["data"]), loads(row["meta"]))

    def payments_for_merchant_uid(self, merchant_uid: str, sorting: str = "-started") -> list[dict]:
        """All payments made for a merchant_uid, in the order `sorting` names."""
        rows = self._all(
            "SELECT data FROM payments WHERE merchant_uid = ? ORDER BY rowid", (merchant_uid,)
        )
        return _sorted_payments([loads(r["data"]) for r in rows], sorting)

    def payments_for_customer(self, customer_uid: str) -> list[dict]:
        """All payments made with a customer_uid, newest first."""
        rows = self._all(
            "SELECT data FROM payments WHERE customer_uid = ? ORDER BY started_at DESC, rowid DESC",
            (customer_uid,),
        )
        return [loads(r["data"]) for r in rows]

    def payments_recent(self, limit: int = 200) -> list[tuple[dict, dict]]:
        """The newest payments, for the operator page."""
        rows = self._all(
            "SELECT data, meta FROM payments ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,)
        )
        return [(loads(r["data"]), loads(r["meta"])) for r in rows]

    def imp_uid_exists(self, imp_uid: str) -> bool:
        """Whether an imp_uid is taken."""
        return self._one("SELECT 1 FROM payments WHERE imp_uid = ?", (imp_uid,)) is not None

    # -- prepared amounts -------------------------------------------------------------------

    def prepared_get(self, merchant_uid: str) -> dict | None:
        """The amount registered in advance for a merchant_uid."""
        row = self._one("SELECT data FROM prepared WHERE merchant_uid = ?", (merchant_uid,))
        return None if row is None else loads(row["data"])

    def prepared_put(self, data: dict) -> None:
        """Register an amount in advance."""
        self._run(
            "INSERT INTO prepared (merchant_uid, data) VALUES (?, ?)",
            (data["merchant_uid"], dumps(data)),
        )

    # -- billing keys -----------------------------------------------------------------------

    def customer_get(self, customer_uid: str) -> tuple[dict, dict] | None:
        """A billing key and its meta."""
        row = self._one("SELECT data, meta FROM customers WHERE customer_uid = ?", (customer_uid,))
        return None if row is None else (loads(row["data"]), loads(row["meta"]))

    def customer_save(self, customer: dict, meta: dict) -> None:
        """Insert or replace a billing key."""
        self._run(
            "INSERT INTO customers (customer_uid, data, meta) VALUES (?, ?, ?) "
            "ON CONFLICT(customer_uid) DO UPDATE SET data = excluded.data, meta = excluded.meta",
            (customer["customer_uid"], dumps(customer), dumps(meta)),
        )

    def customer_delete(self, customer_uid: str) -> None:
        """Forget a billing key."""
        self._run("DELETE FROM customers WHERE customer_uid = ?", (customer_uid,))

    def customers_all(self) -> list[tuple[dict, dict]]:
        """Every billing key, newest first."""
        rows = self._all("SELECT data, meta FROM customers ORDER BY rowid DESC")
        return [(loads(r["data"]), loads(r["meta"])) for r in rows]

    # -- schedules --------------------------------------------------------------------------

    def schedule_get(self, merchant_uid: str) -> dict | None:
        """A scheduled payment by merchant_uid."""
        row = self._one("SELECT data FROM schedules WHERE merchant_uid = ?", (merchant_uid,))
        return None if row is None else loads(row["data"])

    def schedule_save(self, schedule: dict) -> None:
        """Insert or replace a scheduled payment."""
        self._run(
            "INSERT INTO schedules (merchant_uid, customer_uid, schedule_at, schedule_status, data) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(merchant_uid) DO UPDATE SET "
            "customer_uid = excluded.customer_uid, schedule_at = excluded.schedule_at, "
            "schedule_status = excluded.schedule_status, data = excluded.data",
            (
                schedule["merchant_uid"],
                schedule["customer_uid"],
                schedule["schedule_at"],
                schedule["schedule_status"],
                dumps(schedule),
            ),
        )

    def schedules_due(self, now: float) -> list[dict]:
        """Scheduled payments whose time has come, oldest first."""
        rows = self._all(
            "SELECT data FROM schedules WHERE schedule_status = 'scheduled' AND schedule_at <= ? "
            "ORDER BY schedule_at, rowid",
            (now,),
        )
        return [loads(r["data"]) for r in rows]

    def schedules_for_customer(self, customer_uid: str, status: str | None = None) -> list[dict]:
        """A customer's scheduled payments, optionally in one schedule_status."""
        sql = "SELECT data FROM schedules WHERE customer_uid = ?"
        args: tuple = (customer_uid,)
        if status:
            sql += " AND schedule_status = ?"
            args += (status,)
        rows = self._all(sql + " ORDER BY schedule_at, rowid", args)
        return [loads(r["data"]) for r in rows]

    def schedules_between(
        self, start: int, end: int, status: str | None, descending: bool, limit: int, offset: int
    ) -> tuple[int, list[dict]]:
        """Scheduled payments due in [start, end], paged; returns (total, page)."""
        where = "schedule_at >= ? AND schedule_at <= ?"
        args: tuple = (start, end)
        if status:
            where += " AND schedule_status = ?"
            args += (status,)
        total = self._one(f"SELECT COUNT(*) AS n FROM schedules WHERE {where}", args)["n"]  # noqa: S608
        order = "DESC" if descending else "ASC"
        rows = self._all(
            f"SELECT data FROM schedules WHERE {where} "  # noqa: S608 - fixed fragments only
            f"ORDER BY schedule_at {order}, rowid {order} LIMIT ? OFFSET ?",
            args + (limit, offset),
        )
        return total, [loads(r["data"]) for r in rows]

    def schedules_all(self, limit: int = 200) -> list[dict]:
        """The latest scheduled payments, for the operator page."""
        rows = self._all("SELECT data FROM schedules ORDER BY schedule_at DESC LIMIT ?", (limit,))
        return [loads(r["data"]) for r in rows]

    # -- jobs (Paymentwall's asynchronous steps) ---------------------------------------------

    def job_add(self, kind: str, ref: str, due_at: float, payload: dict | None = None) -> int:
        """Queue work for later: a pingback, a review decision, a cancel callback."""
        cur = self._run(
            "INSERT INTO jobs (kind, ref, due_at, payload) VALUES (?, ?, ?, ?)",
            (kind, ref, due_at, dumps(payload or {})),
        )
        return int(cur.lastrowid)

    def jobs_due(self, now: float) -> list[dict]:
        """Jobs whose time has come."""
        rows = self._all(
            "SELECT * FROM jobs WHERE done_at IS NULL AND due_at <= ? ORDER BY due_at, id", (now,)
        )
        return [_job(r) for r in rows]

    def jobs_pending(self, kind: str | None = None, ref: str | None = None) -> list[dict]:
        """Jobs not yet run, optionally of one kind and reference."""
        sql = "SELECT * FROM jobs WHERE done_at IS NULL"
        args: tuple = ()
        if kind:
            sql += " AND kind = ?"
            args += (kind,)
        if ref:
            sql += " AND ref = ?"
            args += (ref,)
        return [_job(r) for r in self._all(sql + " ORDER BY due_at, id", args)]

    def job_done(self, job_id: int, now: float) -> bool:
        """Mark a job run; False when it already was (someone else ran it)."""
        cur = self._run(
            "UPDATE jobs SET done_at = ? WHERE id = ? AND done_at IS NULL", (now, job_id)
        )
        return cur.rowcount == 1

    # -- webhooks ---------------------------------------------------------------------------

    def webhook_add(self, row: dict) -> int:
        """Log a webhook delivery (pending, dropped or skipped)."""
        columns = list(row)
        cur = self._run(
            f"INSERT INTO webhooks ({', '.join(columns)}) "  # noqa: S608 - our own column names
            f"VALUES ({', '.join('?' for _ in columns)})",
            tuple(row[c] for c in columns),
        )
        return int(cur.lastrowid)

    def webhook_update(self, webhook_id: int, **changes: Any) -> None:
        """Record what happened to a delivery."""
        sets = ", ".join(f"{k} = ?" for k in changes)
        self._run(
            f"UPDATE webhooks SET {sets} WHERE id = ?",  # noqa: S608 - our own column names
            tuple(changes.values()) + (webhook_id,),
        )

    def webhook_get(self, webhook_id: int) -> dict | None:
        """One logged delivery."""
        row = self._one("SELECT * FROM webhooks WHERE id = ?", (webhook_id,))
        return None if row is None else dict(row)

    def webhooks_due(self, now: float) -> list[dict]:
        """Deliveries whose time has come, in the order they should go out."""
        rows = self._all(
            "SELECT * FROM webhooks WHERE state = 'pending' AND due_at <= ? "
            "ORDER BY due_at, order_key, id",
            (now,),
        )
        return [dict(r) for r in rows]

    def webhook_claim(self, now: float) -> dict | None:
        """Take the next due delivery (marked `sending`) so that no other sender takes it too."""
        # Idle senders look often: only take the write lock when something is due.
        if self._one("SELECT 1 FROM webhooks WHERE state = 'pending' AND due_at <= ? LIMIT 1", (now,)) is None:
            return None
        with self.tx():
            row = self._one(
                "SELECT * FROM webhooks WHERE state = 'pending' AND due_at <= ? "
                "ORDER BY due_at, order_key, id LIMIT 1",
                (now,),
            )
            if row is None:
                return None
            self._run("UPDATE webhooks SET state = 'sending' WHERE id = ?", (row["id"],))
        return {**dict(row), "state": "sending"}

    def webhook_reorder_batch(self, now: float) -> float | None:
        """The due time of the open reorder batch, if one is still waiting."""
        row = self._one(
            "SELECT MAX(due_at) AS due FROM webhooks "
            "WHERE state = 'pending' AND reorder = 1 AND due_at > ?",
            (now,),
        )
        return None if row is None else row["due"]

    def webhooks_all(self, imp_uid: str | None = None, limit: int = 500) -> list[dict]:
        """The delivery log, newest first."""
        if imp_uid:
            rows = self._all(
                "SELECT * FROM webhooks WHERE imp_uid = ? ORDER BY id DESC LIMIT ?", (imp_uid, limit)
            )
        else:
            rows = self._all("SELECT * FROM webhooks ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]


def _job(row: sqlite3.Row) -> dict:
    job = dict(row)
    job["payload"] = loads(job["payload"])
    return job


def _sorted_payments(payments: list[dict], sorting: str) -> list[dict]:
    key, descending = _PAYMENT_SORTS.get(sorting, _PAYMENT_SORTS["-started"])
    # Python's sort is stable, so equal times keep insertion order (then reversed below).
    indexed = list(enumerate(payments))
    indexed.sort(key=lambda item: (item[1].get(key) or 0, item[0]), reverse=descending)
    return [p for _, p in indexed]
