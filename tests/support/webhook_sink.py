"""A tiny merchant endpoint for tests: it records every webhook the sandbox sends it."""
from __future__ import annotations

import threading
import time

from flask import Flask, request

from .servers import ServedApp, serve_wsgi
from .waiting import wait_until


class WebhookSink:
    """A tiny merchant endpoint that records every webhook it receives (JSON or form)."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.status = status
        self.delay = delay
        self.received: list[dict] = []
        self._lock = threading.Lock()
        self.app = Flask("webhook_sink")
        self.app.add_url_rule("/hook", "hook", self._receive, methods=["POST"])
        self.app.add_url_rule("/hook/<name>", "named_hook", self._receive, methods=["POST"])
        self.served: ServedApp | None = None

    def _receive(self, name: str = "") -> tuple[str, int]:
        if self.delay:
            time.sleep(self.delay)
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        with self._lock:
            self.received.append({"path": request.path, "content_type": request.mimetype, "body": body,
                                  "at": time.monotonic()})
        return "ok", self.status

    def start(self) -> "WebhookSink":
        """Serve the sink on 127.0.0.1."""
        self.served = serve_wsgi(self.app)
        return self

    @property
    def url(self) -> str:
        """The URL to give as notice_url or default webhook URL."""
        assert self.served is not None, "start() the sink first"
        return f"{self.served.url}/hook"

    def bodies(self, path: str | None = None) -> list[dict]:
        """The bodies received so far (optionally only at one path)."""
        with self._lock:
            return [r["body"] for r in self.received if path is None or r["path"] == path]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Wait until at least `count` webhooks arrived; returns all bodies."""
        wait_until(lambda: len(self.bodies()) >= count, timeout=timeout, message=f"{count} webhook(s)")
        return self.bodies()

    def stop(self) -> None:
        """Stop serving."""
        if self.served:
            self.served.stop()
