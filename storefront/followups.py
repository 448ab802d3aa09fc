"""Calls to iamport that an answer to iamport need not wait for, run on a few background threads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from flask import Flask, Response, copy_current_request_context, current_app, g, has_app_context

from storefront.extensions import db

log = logging.getLogger(__name__)

FollowUp = Callable[[], object]


class FollowUpRunner:
    """A small thread pool per process for follow-ups, and a way to wait until they are done.

    A thread of its own, rather than the request's thread after the response: a server that
    keeps the connection alive (gunicorn's gthread does) reads the caller's next request on it
    only once the request's thread is free again.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._pending: set[Future] = set()
        self._idle = threading.Condition(self._lock)

    def submit(self, work: Callable[[], None]) -> None:
        """Run `work` on the pool (started on first use, so after a server forks its workers)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="follow-up")
            future = self._pool.submit(work)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)
            if not self._pending:
                self._idle.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no follow-up is left; False if some still run after `timeout` seconds."""
        with self._lock:
            return self._idle.wait_for(lambda: not self._pending, timeout)


def init_app(app: Flask) -> None:
    """Give the app its follow-up runner."""
    app.extensions["follow_ups"] = FollowUpRunner(app.config["FOLLOW_UP_THREADS"])


def runner(app: Flask | None = None) -> FollowUpRunner:
    """The app's follow-up runner."""
    return (app or current_app).extensions["follow_ups"]


def later(action: FollowUp) -> None:
    """Run the action after this request's answer if the request defers; otherwise now."""
    held: list[FollowUp] | None = g.get("follow_ups") if has_app_context() else None
    if held is None:
        action()
    else:
        held.append(action)


def defer() -> None:
    """Hold this request's follow-ups until its view has answered (unless there are no threads
    for them: FOLLOW_UP_THREADS=0 makes every caller wait for its follow-ups)."""
    if runner().threads > 0:
        g.follow_ups = []


def hand_off(response: Response) -> Response:
    """Pass the held follow-ups to the runner; the response goes out without waiting for them.

    Only calls that reconcile repeats may be held (see `billing.CAN_WAIT`): if the process dies
    before they run, `flask billing reconcile` finds the missing schedule or key check.
    """
    held: list[FollowUp] | None = g.pop("follow_ups", None)
    if held:
        runner().submit(copy_current_request_context(partial(_run_all, held)))
    return response


def _run_all(actions: list[FollowUp]) -> None:
    for action in actions:
        try:
            action()
        except Exception:  # one failure must not stop the others; reconcile repeats it
            db.session.rollback()
            log.exception("follow-up %r failed; reconcile will repeat it", action)
