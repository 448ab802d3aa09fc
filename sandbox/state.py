"""What every part of the sandbox shares: its settings and knobs, store, clock, randomness and wake-ups."""
from __future__ import annotations

import random
import threading

from flask import current_app

from .clock import Clock
from .settings import Knobs, Settings
from .store import Store

# Kinds of queued work in the store: Paymentwall's pingback, the end of a risk review, a cancel's callback.
PINGBACK = "pingback"
REVIEW = "review"
CANCEL = "cancel"


class State:
    """One sandbox's state; the views, the API and the background work all act on it.

    It sits below every other part (they import it, it imports none of them but the store, the
    clock and the settings), so the parts never import each other in a circle.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.knobs = Knobs(settings)
        self.store = Store(settings.database_path)
        self.clock = Clock(self.store)
        self.rng = random.Random()
        self.stopping = threading.Event()
        # Serialises the running of due work between the worker thread and control calls.
        self.work_lock = threading.RLock()
        # Set to have the worker (work_due) or the webhook senders (webhooks_due) look now.
        self.work_due = threading.Event()
        self.webhooks_due = threading.Event()
        self._public_url = settings.public_url.rstrip("/")

    def wake(self) -> None:
        """Have the worker and the webhook senders look at due work now (after the clock moved, say)."""
        self.work_due.set()
        self.webhooks_due.set()

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
            generation = self.clock.generation + 1  # kept across the store's reset, one more
            self.store.reset()
            self.clock.reset(generation)
            self.knobs.reset()


def current() -> State:
    """The state of the sandbox whose app serves this request."""
    return current_app.extensions["sandbox"]
