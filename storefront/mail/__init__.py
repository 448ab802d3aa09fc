"""Mail to customers: rows of the outbox written with the change that causes them, sent after the answer and by reconcile."""

from flask import Flask, Response

from storefront.mail.outbox import (
    FAILING_AFTER_ATTEMPTS,
    SendReport,
    failing_messages,
    message_id,
    queue_mail,
    queued_here,
    send_after_answer,
    send_due,
)
from storefront.mail.rendering import language_of, link, render

__all__ = [
    "FAILING_AFTER_ATTEMPTS", "SendReport", "failing_messages", "init_app", "language_of", "link",
    "message_id", "queue_mail", "queued_here", "render", "send_after_answer", "send_due",
]


def init_app(app: Flask) -> None:
    """Send what each request queued once its answer has gone out (gunicorn and Werkzeug call
    call_on_close after the last byte)."""
    from functools import partial

    @app.after_request
    def _send_queued_mail(response: Response) -> Response:
        queued = queued_here()
        if queued:
            response.call_on_close(partial(send_after_answer, app, queued))
        return response
