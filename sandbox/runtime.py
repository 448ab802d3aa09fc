"""The running sandbox: settings, store, clock and the background threads, started and stopped together."""
from __future__ import annotations

import logging
import random
import threading

from . import scheduler
from .clock import Clock
from .settings import Knobs, Settings
from .store import Store, StoreClosed
from .webhooks import WebhookDispatcher

log = logging.getLogger(__name__)


class Sandbox:
    """One sandbox instance; several can live in one process (tests do that)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.knobs = Knobs(settings)
        self.store = Store(settings.database_path)
        self.clock = Clock(self.store)
        self.rng = random.Random()
        self.stopping = threading.Event()
        # Serialises the running of due work between the worker thread and control calls.
        self.work_lock = threading.RLock()
        self.webhooks = WebhookDispatcher(self)
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._public_url = settings.public_url.rstrip("/")

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the background threads run."""
        return bool(self._threads)

    def start(self) -> "Sandbox":
        """Start the worker and webhook threads (idempotent)."""
        with self._start_lock:
            if self._threads or self.stopping.is_set():
                return self
            self.webhooks.recover()
            self._threads = [
                threading.Thread(target=self._work_loop, name="sandbox-worker", daemon=True),
                threading.Thread(target=self.webhooks.run, name="sandbox-webhooks", daemon=True),
            ]
            for thread in self._threads:
                thread.start()
        log.info("sandbox started (database %s)", self.settings.database_path)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads, release hung requests and close the store."""
        self.stopping.set()
        self._wake.set()
        self.webhooks.wake()
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("sandbox thread %s did not stop within %.1fs", thread.name, timeout)
        self._threads = []
        self.webhooks.join(timeout)
        self.store.close()

    def wake(self) -> None:
        """Have the worker look at due work now (after the clock moved, say)."""
        self._wake.set()
        self.webhooks.wake()

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
            self._wake.wait(self.settings.tick)
            self._wake.clear()

    # -- helpers used by the views ------------------------------------------------------------

    def remember_url(self, host_url: str) -> None:
        """Learn the sandbox's own base URL from a request (for receipt links)."""
        if not self._public_url:
            self._public_url = host_url.rstrip("/")

    def public_url(self) -> str:
        """The sandbox's base URL as clients reach it."""
        return self._public_url or "http://127.0.0.1"

    def reset(self) -> None:
        """Forget all state and go back to the start-up settings and real time."""
        with self.work_lock:
            self.store.reset()
            self.clock.reset()
            self.knobs.reset()
