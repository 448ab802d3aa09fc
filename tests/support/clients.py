"""A Flask test client that closes each answer, as a WSGI server does once it has sent it."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient


class ClosingClient(FlaskClient):
    """Reads every answer whole and closes it, so that work the view left for the answer's
    close (`response.call_on_close`, as the webhook does) is done before the test goes on."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)
