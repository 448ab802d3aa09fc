"""Webhook delivery: background senders that claim due webhooks from the store and POST them."""
from __future__ import annotations

import http.client
import json
import logging
import threading
from urllib.parse import urlencode, urlsplit

from .money import loads
from .state import State
from .database import StoreClosed

log = logging.getLogger(__name__)

USER_AGENT = "iamport-sandbox-webhook/1.0"
CONNECTIONS = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}


class WebhookSenders:
    """Deliver the webhooks queued in the store (by webhooks.enqueue) in the background."""

    def __init__(self, sb: State):
        self._sb = sb
        # Senders beyond the first, started when the workers knob asks for them.
        self._extra: list[threading.Thread] = []
        self._extra_lock = threading.Lock()

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
            sb.webhooks_due.wait(sb.settings.tick)
            sb.webhooks_due.clear()

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
        # The standard library's client, which costs the sandbox less per webhook than requests
        # (see bench/README.md). A new connection each time, as iamport's webhooks come, and as
        # a shop that closes its connections after each request needs.
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
