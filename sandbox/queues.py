"""The sandbox's queues in its database: work due later (jobs) and the webhook delivery log."""
from __future__ import annotations

import sqlite3
from typing import Any

from .database import Database
from .money import dumps, loads


class Queues(Database):
    """Jobs (Paymentwall's pingbacks, review decisions, cancel callbacks) and webhook deliveries."""

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
