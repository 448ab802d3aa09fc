"""Webhook deliveries: queued, sent by background senders, every attempt logged; faults for tests."""
from __future__ import annotations

import http.client
import json
import logging
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from .money import dumps, loads
from .store import StoreClosed

if TYPE_CHECKING:
    from .runtime import Sandbox

log = logging.getLogger(__name__)

USER_AGENT = "iamport-sandbox-webhook/1.0"
CONNECTIONS = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}


def destinations(sb: "Sandbox", meta: dict) -> list[str]:
    """The payment's notice_url(s), else the configured default URL, else nowhere."""
    urls = [u for u in meta.get("notice_urls") or [] if u]
    if urls:
        return urls
    return [sb.knobs.webhook_url] if sb.knobs.webhook_url else []


def public_row(row: dict) -> dict:
    """A delivery log row as the control endpoint shows it."""
    out = dict(row)
    out["body"] = loads(row["body"])
    out.pop("order_key", None)
    out["reorder"] = bool(row["reorder"])
    return out


class WebhookDispatcher:
    """Queues webhooks in the store and delivers them in the background."""

    def __init__(self, sb: "Sandbox"):
        self._sb = sb
        self._wake = threading.Event()
        # Senders beyond the first, started when the workers knob asks for them.
        self._extra: list[threading.Thread] = []
        self._extra_lock = threading.Lock()

    # -- queueing ---------------------------------------------------------------------------

    def enqueue(self, payment: dict, meta: dict, *, event: str, status: str | None = None,
                extra: dict | None = None) -> list[int]:
        """Queue the webhook of a payment event to each destination; returns the log ids."""
        sb = self._sb
        knobs = sb.knobs
        body: dict[str, Any] = {
            "imp_uid": payment["imp_uid"],
            "merchant_uid": payment["merchant_uid"],
            "status": status or payment["status"],
        }
        body.update(extra or {})
        now = sb.clock.now()
        urls = destinations(sb, meta)
        ids: list[int] = []
        if not urls:
            ids.append(self._log(body, None, event, "skipped", "original", now, now, False,
                                 error="no notice_url and no default webhook URL"))
            return ids
        for url in urls:
            if sb.rng.random() < knobs.webhook_drop_rate:
                ids.append(self._log(body, url, event, "dropped", "original", now, now, False,
                                     error="dropped by the webhook fault setting"))
                continue
            due = now + knobs.webhook_delay
            reorder = bool(knobs.webhook_reorder)
            if reorder:
                # Every webhook queued while a batch is open joins it; a batch goes out
                # newest first, so events arrive in the reverse order of their creation.
                batch = sb.store.webhook_reorder_batch(now)
                due = batch if batch is not None else due + knobs.webhook_reorder_window
            ids.append(self._log(body, url, event, "pending", "original", now, due, reorder))
            if sb.rng.random() < knobs.webhook_duplicate_rate:
                ids.append(self._log(body, url, event, "pending", "duplicate", now, due, reorder))
        self._wake.set()
        return ids

    def resend(self, webhook_id: int) -> int | None:
        """Send a logged webhook again now, to the same place, with the same body."""
        sb = self._sb
        row = sb.store.webhook_get(webhook_id)
        if row is None:
            return None
        now = sb.clock.now()
        url = row["url"]
        if not url:
            # A skipped webhook had nowhere to go; try the default URL now set, if any.
            url = sb.knobs.webhook_url or None
        if not url:
            return None
        new_id = self._log(loads(row["body"]), url, row["event"], "pending", "resend", now, now,
                           False, fmt=row["format"])
        self._wake.set()
        return new_id

    def _log(self, body: dict, url: str | None, event: str, state: str, kind: str, now: float,
             due: float, reorder: bool, error: str | None = None, fmt: str | None = None) -> int:
        store = self._sb.store
        with store.tx():
            webhook_id = store.webhook_add({
                "created_at": now,
                "due_at": due,
                "reorder": int(reorder),
                "state": state,
                "kind": kind,
                "event": event,
                "imp_uid": body.get("imp_uid"),
                "merchant_uid": body.get("merchant_uid"),
                "status": body.get("status"),
                "url": url,
                "format": fmt or self._sb.knobs.webhook_format,
                "body": dumps(body),
                "error": error,
            })
            store.webhook_update(webhook_id, order_key=-webhook_id if reorder else webhook_id)
        if state == "pending":
            log.info("webhook %s queued: %s %s -> %s", webhook_id, event, body.get("status"), url)
        return webhook_id

    # -- delivery ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the queue now instead of at the next tick."""
        self._wake.set()

    def recover(self) -> None:
        """After a restart, deliveries cut off mid-flight go back to the queue."""
        store = self._sb.store
        for row in store.webhooks_all(limit=10_000):
            if row["state"] == "sending":
                store.webhook_update(row["id"], state="pending")

    def run(self) -> None:
        """Background loop of the first sender: deliver what is due until the sandbox stops."""
        self._loop(0)

    def _loop(self, index: int) -> None:
        """One sender. Sender `index` works while the workers knob is above it, else it idles."""
        sb = self._sb
        while not sb.stopping.is_set():
            if index < sb.knobs.webhook_workers:
                try:
                    self.deliver_due()
                except StoreClosed:
                    break
                except Exception:  # noqa: BLE001 - a bad delivery must not kill the thread
                    if sb.stopping.is_set():
                        break
                    log.exception("webhook dispatcher failed; retrying at the next tick")
            self._wake.wait(sb.settings.tick)
            self._wake.clear()

    def _scale(self) -> None:
        """Start senders until there are as many as the workers knob says (they never stop early)."""
        wanted = self._sb.knobs.webhook_workers - 1
        if len(self._extra) >= wanted or self._sb.stopping.is_set():
            return
        with self._extra_lock:
            while len(self._extra) < wanted:
                index = len(self._extra) + 1
                thread = threading.Thread(target=self._loop, args=(index,),
                                          name=f"sandbox-webhooks-{index}", daemon=True)
                self._extra.append(thread)
                thread.start()
                log.info("webhook sender %d started", index)

    def deliver_due(self) -> int:
        """Send due webhooks until none is left; returns how many this sender attempted.

        Each delivery is claimed in the store first, so several senders never send one twice.
        With one sender they leave in order (due time, then queue order); with more, several
        are in flight at once and a slow endpoint no longer holds the others back.
        """
        sb = self._sb
        count = 0
        while not sb.stopping.is_set():
            self._scale()
            row = sb.store.webhook_claim(sb.clock.now())
            if row is None:
                break
            self._send(row)
            count += 1
        return count

    def _send(self, row: dict) -> None:
        body = loads(row["body"])
        attempts = row["attempts"] + 1
        if row["format"] == "form":
            # As a form leaves out empty fields (requests did the same with None).
            fields = {key: value for key, value in body.items() if value is not None}
            data, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
        else:
            data, content_type = json.dumps(body, default=str).encode(), "application/json"
        try:
            status = self._post(row["url"], data, content_type)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._finish(row, attempts, None, f"{type(exc).__name__}: {exc}")
            return
        error = None if status < 400 else f"HTTP {status}"
        self._finish(row, attempts, status, error)

    def _post(self, url: str, data: bytes, content_type: str) -> int:
        """POST one webhook on a connection of its own; returns the HTTP status."""
        # The standard library's client: through requests, a delivery cost about 0.7 ms more CPU
        # (a third of the sandbox's time per webhook). A new connection each time, as iamport's
        # webhooks come, and as a shop that closes its connections after each request needs.
        settings = self._sb.settings
        parts = urlsplit(url)
        if parts.scheme not in CONNECTIONS or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        connection = CONNECTIONS[parts.scheme](parts.hostname, parts.port,
                                               timeout=settings.webhook_connect_timeout)
        try:
            connection.connect()
            connection.sock.settimeout(settings.webhook_read_timeout)
            target = f"{parts.path or '/'}{'?' + parts.query if parts.query else ''}"
            connection.request("POST", target, body=data, headers={
                "Content-Type": content_type, "User-Agent": USER_AGENT, "Connection": "close",
            })
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def _finish(self, row: dict, attempts: int, http_status: int | None, error: str | None) -> None:
        sb = self._sb
        now = sb.clock.now()
        if error is None:
            sb.store.webhook_update(row["id"], state="delivered", attempts=attempts, sent_at=now,
                                    http_status=http_status, error=None)
            log.info("webhook %s delivered to %s (%s)", row["id"], row["url"], http_status)
            return
        # As iamport does when asked to, retry on network errors and 5xx only.
        retryable = http_status is None or http_status >= 500
        if retryable and attempts <= sb.knobs.webhook_retries:
            sb.store.webhook_update(row["id"], state="pending", attempts=attempts, sent_at=now,
                                    http_status=http_status, error=error,
                                    due_at=now + sb.knobs.webhook_retry_interval)
            log.warning("webhook %s to %s failed (%s); will retry", row["id"], row["url"], error)
            return
        sb.store.webhook_update(row["id"], state="failed", attempts=attempts, sent_at=now,
                                http_status=http_status, error=error)
        log.warning("webhook %s to %s failed: %s", row["id"], row["url"], error)

    def join(self, timeout: float) -> None:
        """Wait for the senders beyond the first (the sandbox stops the first itself)."""
        for thread in self._extra:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("webhook sender %s did not stop within %.1fs", thread.name, timeout)
        self._extra = []
