"""Serve any WSGI app on 127.0.0.1 in a background thread, for tests that need real HTTP."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from werkzeug.serving import BaseWSGIServer
from werkzeug.wrappers import Response

from sandbox.serving import make_server

log = logging.getLogger(__name__)


class _CountedBody:
    """An answer's body whose close (where the app's call_on_close work runs) is counted done
    even if it raises."""

    def __init__(self, body: Any, done: Callable[[], None]) -> None:
        self._body = body
        self._done = done

    def __iter__(self) -> Any:
        return iter(self._body)

    def close(self) -> None:
        try:
            if hasattr(self._body, "close"):
                self._body.close()
        finally:
            self._done()


class CountedApp:
    """A WSGI app whose requests are counted from their start until the server closes their
    answer, so that work an answer leaves for its close (`call_on_close`) is counted too."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self._active = 0
        self._closed = False
        self._idle = threading.Condition()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        with self._idle:
            refused = self._closed
            if not refused:
                self._active += 1
        if refused:
            # A kept connection (a browser's, say) or a late webhook can bring a request after
            # the test has closed the app's database; it must not open a connection there.
            stopping = Response("This server is stopping.", status=503, headers={"Connection": "close"})
            return stopping(environ, start_response)
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self._done()
            raise
        return _CountedBody(body, self._done)

    def _done(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in progress; False if some still are after `timeout` s."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def close(self, timeout: float) -> bool:
        """Let no request in from now on (they are answered 503), and wait until those in
        progress are done; False if some still are after `timeout` s."""
        with self._idle:
            self._closed = True
            return self._idle.wait_for(lambda: self._active == 0, timeout)


@dataclass
class ServedApp:
    """A WSGI app listening on an ephemeral port; `url` has no trailing slash."""

    app: CountedApp
    server: BaseWSGIServer
    thread: threading.Thread
    url: str
    _stopped: bool = field(default=False, repr=False)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.server.server_port

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every request, and the work its answer left for after it, is done."""
        return self.app.wait_idle(timeout)

    def close(self, timeout: float = 30.0) -> bool:
        """Let no request reach the app from now on, and wait until those in progress, and the
        work their answers left, are done (False if some still run after `timeout` s). Call it
        before closing what the app's requests use, such as its database."""
        return self.app.close(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port (idempotent); no request reaches the app after."""
        if self._stopped:
            return
        self._stopped = True
        # Threads of kept connections outlive the server's loop until server_close.
        self.app.close(0)
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout)

    def __enter__(self) -> "ServedApp":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_wsgi(app: Callable, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
    """Start `app` with the sandbox's threaded, keep-alive server on `host` (port 0 = any free port)."""
    counted = CountedApp(app)
    server = make_server(host, port, counted)
    # serve_forever polls for shutdown; a short interval makes stop() quick.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"wsgi-{server.server_port}",
        daemon=True,
    )
    thread.start()
    served = ServedApp(app=counted, server=server, thread=thread, url=f"http://{host}:{server.server_port}")
    log.debug("serving %r on %s", app, served.url)
    return served
