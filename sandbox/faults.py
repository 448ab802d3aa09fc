"""Faults for the REST API only: added latency, a share of 5xx answers, hangs past the client's timeout."""
from __future__ import annotations

import logging
from flask import Response, g

from .envelope import envelope
from .state import State


log = logging.getLogger(__name__)

ERROR_STATUSES = (500, 502, 503)


def before_request(sb: State) -> Response | None:
    """Delay the request, or answer it with a 5xx, as the fault settings say."""
    knobs = sb.knobs
    if knobs.latency_ms > 0:
        sb.stopping.wait(knobs.latency_ms / 1000.0)
    if knobs.error_rate > 0 and sb.rng.random() < knobs.error_rate:
        status = sb.rng.choice(ERROR_STATUSES)
        log.info("fault: answering %s", status)
        return envelope(None, code=-1, message="Sandbox fault: injected server error.", status=status)
    # A hang is decided now and served after the work is done: the request takes effect
    # (a charge is made) but the client gives up waiting, the case a careful client must
    # settle by looking the payment up instead of charging again.
    g.sandbox_hang = knobs.hang_rate > 0 and sb.rng.random() < knobs.hang_rate
    return None


def after_request(sb: State, response: Response) -> Response:
    """Hold the finished answer back for the hang duration when this request was chosen."""
    if getattr(g, "sandbox_hang", False):
        log.info("fault: hanging for %.1fs", sb.knobs.hang_seconds)
        # Waiting on the stop event lets a shutting-down sandbox release hung requests.
        sb.stopping.wait(sb.knobs.hang_seconds)
    return response
