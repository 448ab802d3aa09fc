"""The running sandbox: its state plus the background threads, started and stopped together."""
from __future__ import annotations

import logging
import threading

from . import scheduler
from .delivery import WebhookSenders
from .mailbox import Mailbox
from .settings import Settings
from .state import State
from .database import StoreClosed

log = logging.getLogger(__name__)


class Sandbox(State):
    """One sandbox instance; several can live in one process (tests do that)."""

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.senders = WebhookSenders(self)
        self.mailbox = Mailbox(self, settings.smtp_host, settings.smtp_port)
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether the background threads run."""
        return bool(self._threads)

    def start(self) -> "Sandbox":
        """Start the worker and webhook threads and the mailbox's SMTP server (idempotent)."""
        with self._start_lock:
            if self._threads or self.stopping.is_set():
                return self
            self.senders.recover()
            self.mailbox.start()
            self._threads = [
                threading.Thread(target=self._work_loop, name="sandbox-worker", daemon=True),
                threading.Thread(target=self.senders.run, name="sandbox-webhooks", daemon=True),
            ]
            for thread in self._threads:
                thread.start()
        log.info("sandbox started (database %s)", self.settings.database_path)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads and the SMTP server, release hung requests and close the store."""
        self.stopping.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("sandbox thread %s did not stop within %.1fs", thread.name, timeout)
        self._threads = []
        self.senders.join(timeout)
        self.mailbox.stop(timeout)
        self.store.close()

    def _work_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                scheduler.run_due(self)
            except StoreClosed:
                break
            except Exception:  # noqa: BLE001 - keep the worker alive; the error is logged
                if self.stopping.is_set():
                    break
                log.exception("sandbox worker failed; retrying at the next tick")
            self.work_due.wait(self.settings.tick)
            self.work_due.clear()
