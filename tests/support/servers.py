"""Serve any WSGI app on 127.0.0.1 in a background thread, for tests that need real HTTP."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from werkzeug.serving import BaseWSGIServer

from sandbox.serving import make_server

log = logging.getLogger(__name__)


@dataclass
class ServedApp:
    """A WSGI app listening on an ephemeral port; `url` has no trailing slash."""

    app: Any
    server: BaseWSGIServer
    thread: threading.Thread
    url: str
    _stopped: bool = field(default=False, repr=False)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.server.server_port

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout)

    def __enter__(self) -> "ServedApp":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_wsgi(app: Callable, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
    """Start `app` with the sandbox's threaded, keep-alive server on `host` (port 0 = any free port)."""
    server = make_server(host, port, app)
    # serve_forever polls for shutdown; a short interval makes stop() quick.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"wsgi-{server.server_port}",
        daemon=True,
    )
    thread.start()
    served = ServedApp(app=app, server=server, thread=thread, url=f"http://{host}:{server.server_port}")
    log.debug("serving %r on %s", app, served.url)
    return served
