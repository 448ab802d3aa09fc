"""The sandbox clock: real time plus an offset that tests and the operator can advance."""
from __future__ import annotations

import threading
import time

from .database import Database


class Clock:
    """Every sandbox timestamp (tokens, paid_at, due schedules) comes from here."""

    def __init__(self, store: Database):
        self._store = store
        self._lock = threading.Lock()
        # The offset is persisted so that a restart does not move time backwards.
        self._offset = float(store.kv_get("clock_offset", 0.0))

    def now(self) -> float:
        """Sandbox time in UNIX seconds (fractional)."""
        return time.time() + self._offset

    def timestamp(self) -> int:
        """Sandbox time in whole UNIX seconds, as the API reports times."""
        return int(self.now())

    @property
    def offset(self) -> float:
        """Seconds the sandbox clock is ahead of real time."""
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            self._store.kv_set("clock_offset", self._offset)
        return self.now()

    @property
    def generation(self) -> int:
        """How many times the sandbox was reset: a shop that saw another number knows that every
        key, schedule and payment it had here is gone."""
        return int(self._store.kv_get("generation", 0))

    def reset(self, generation: int | None = None) -> None:
        """Back to real time (after a reset of the store, at the given generation)."""
        with self._lock:
            self._offset = 0.0
            self._store.kv_set("clock_offset", 0.0)
            if generation is not None:
                self._store.kv_set("generation", generation)
