"""The periodic work cron runs (`flask billing reconcile`), and `make run`'s thread that runs it in-process every DEMO_JOBS_SECONDS."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask

from storefront import clock
from storefront.billing import ReconcileReport, reconcile
from storefront.billing.sandbox_reset import follow_reset
from storefront.extensions import iamport
from storefront.iamport import IamportError

log = logging.getLogger(__name__)


class Unreachable(RuntimeError):
    """iamport gave no token: nothing was reconciled."""


def begin() -> None:
    """What each job does first: read the sandbox's clock once (sandbox mode), and end the
    subscriptions a sandbox reset left without their keys."""
    reading = clock.refresh()
    if reading is not None and reading.generation is not None:
        follow_reset(reading.generation)


def periodic(min_age: timedelta | None = None, audit: bool = False) -> ReconcileReport:
    """The whole job, in an app context: begin, then reconcile (Unreachable when iamport gives
    no token)."""
    begin()
    try:
        # Without a token every row would wait out its own timeout to fail the same way.
        iamport.authenticate()
    except IamportError as exc:
        raise Unreachable(str(exc)) from exc
    return reconcile(min_age=min_age, audit=audit)


class DemoJobs:
    """The demo's stand-in for cron: a daemon thread that runs `periodic` every `seconds`,
    each run in an app context of its own."""

    def __init__(self, app: Flask, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-jobs", daemon=True)

    def step(self) -> ReconcileReport | None:
        """One run of the job; a failure is logged and left to the next run, as cron would."""
        with self.app.app_context():
            try:
                report = periodic()
            except Exception:  # the loop must outlive any one run, as cron outlives a failed job
                log.exception("the periodic job failed; it runs again in %s s", self.seconds)
                return None
        if report.failures:
            log.warning("the periodic job left %s thing(s) undone: %s", len(report.failures),
                        "; ".join(report.failures[:3]))
        return report

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            self.step()

    def start(self) -> None:
        """Run the job every `seconds` from now on, the first run after one interval."""
        self._thread.start()
        log.info("demo jobs: reconcile runs every %s s (DEMO_JOBS_SECONDS)", self.seconds)

    def stop(self) -> None:
        """Stop after the run under way, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
