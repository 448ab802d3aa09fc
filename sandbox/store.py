"""The sandbox's store: tokens, payments, prepared amounts, billing keys and schedules, plus its queues."""
from __future__ import annotations

import sqlite3

from .money import dumps, loads
from .queues import Queues

_PAYMENT_SORTS = {
    "-started": ("started_at", True),
    "started": ("started_at", False),
    "-paid": ("paid_at", True),
    "paid": ("paid_at", False),
    "-updated": ("updated_at", True),
    "updated": ("updated_at", False),
}

# When a payment took its status, which is what iamport's listing by status searches and what
# its "updated" sorting orders by (the sandbox keeps no other update time).
_STATUS_TIME = (
    "(CASE status WHEN 'paid' THEN json_extract(data, '$.paid_at') "
    "WHEN 'cancelled' THEN json_extract(data, '$.cancelled_at') "
    "WHEN 'failed' THEN json_extract(data, '$.failed_at') ELSE started_at END)"
)
_LISTING_SORTS = {
    "-started": ("started_at", True),
    "started": ("started_at", False),
    "-paid": ("json_extract(data, '$.paid_at')", True),
    "paid": ("json_extract(data, '$.paid_at')", False),
    "-updated": (_STATUS_TIME, True),
    "updated": (_STATUS_TIME, False),
}


class Store(Queues):
    """Everything the sandbox keeps, in its own SQLite file (see database.py for the tables)."""

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

    def payments_by_status(
        self, status: str | None, start: int, end: int, sorting: str, include_sandbox: bool,
        limit: int, offset: int,
    ) -> tuple[int, list[dict]]:
        """Payments in one status (None: any) whose time of that status falls in [start, end],
        paged in the order `sorting` names; returns (total, page)."""
        where = f"{_STATUS_TIME} BETWEEN ? AND ?"
        args: tuple = (start, end)
        if status:
            where += " AND status = ?"
            args += (status,)
        if not include_sandbox:
            where += " AND NOT coalesce(json_extract(data, '$.sandbox'), 0)"
        column, descending = _LISTING_SORTS[sorting]
        order = "DESC" if descending else "ASC"
        total = self._one(f"SELECT COUNT(*) AS n FROM payments WHERE {where}", args)["n"]  # noqa: S608
        rows = self._all(
            f"SELECT data FROM payments WHERE {where} "  # noqa: S608 - fixed fragments only
            f"ORDER BY {column} {order}, rowid {order} LIMIT ? OFFSET ?",
            args + (limit, offset),
        )
        return total, [loads(r["data"]) for r in rows]

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

    def schedule_next(self) -> dict | None:
        """The scheduled payment due first that has not run yet."""
        row = self._one("SELECT data FROM schedules WHERE schedule_status = 'scheduled' "
                        "ORDER BY schedule_at, merchant_uid LIMIT 1")
        return None if row is None else loads(row["data"])

    def schedules_all(self, limit: int = 200) -> list[dict]:
        """The latest scheduled payments, for the operator page."""
        rows = self._all("SELECT data FROM schedules ORDER BY schedule_at DESC LIMIT ?", (limit,))
        return [loads(r["data"]) for r in rows]

    # -- the mailbox ------------------------------------------------------------------------

    def mail_add(self, recipients: list[str], fields: dict, received_at: str, sandbox_at: float) -> None:
        """Keep one received message in the mailbox of each envelope recipient."""
        with self.tx():
            for recipient in recipients:
                self._run(
                    "INSERT INTO mail (recipient, sender, subject, text, html, message_id, received_at, sandbox_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (recipient, fields["sender"], fields["subject"], fields["text"], fields["html"],
                     fields["message_id"], received_at, sandbox_at),
                )

    def mail_list(self, recipient: str | None = None, limit: int | None = None) -> list[sqlite3.Row]:
        """The messages received, newest first; of one recipient (any letter case) if given."""
        where, args = ("WHERE recipient = ? COLLATE NOCASE", (recipient,)) if recipient else ("", ())
        tail = f" LIMIT {int(limit)}" if limit else ""
        return self._all(f"SELECT * FROM mail {where} ORDER BY id DESC{tail}", args)  # noqa: S608

    def mail_get(self, mail_id: int) -> sqlite3.Row | None:
        """One received message."""
        return self._one("SELECT * FROM mail WHERE id = ?", (mail_id,))


def _sorted_payments(payments: list[dict], sorting: str) -> list[dict]:
    key, descending = _PAYMENT_SORTS.get(sorting, _PAYMENT_SORTS["-started"])
    # Python's sort is stable, so equal times keep insertion order (then reversed below).
    indexed = list(enumerate(payments))
    indexed.sort(key=lambda item: (item[1].get(key) or 0, item[0]), reverse=descending)
    return [p for _, p in indexed]
