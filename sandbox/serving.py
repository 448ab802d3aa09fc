"""The sandbox's HTTP server: werkzeug's threaded server, keeping connections alive as iamport does."""
# werkzeug's development server closes the connection after every answer. A client of the real
# API keeps its connections open (the storefront's requests session does), so against the plain
# server every REST call paid for a new TCP connection in the client and a new thread here.
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from typing import Any, Callable

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

log = logging.getLogger(__name__)

# An idle kept-alive connection is closed after this many seconds (nginx's default is 75).
IDLE_TIMEOUT = 75.0


class KeepAliveRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, keeping the connection when HTTP/1.1, a sized body and no `close` allow."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # http.server sends the headers and the body in two writes; on a kept connection Nagle's
    # algorithm would hold the body back until the client's delayed ACK.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, opened=False)

    def run_wsgi(self) -> None:
        # werkzeug drains "whatever is left" from self.rfile after the answer, which on a kept
        # connection would read the next request; reading through a stream limited to this
        # request's body leaves the next one where it is.
        raw = self.rfile
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if chunked or length < 0:
            self.close_connection = True
            super().run_wsgi()
            return
        body = LimitedStream(raw, length)
        self.rfile = body  # type: ignore[assignment]
        try:
            super().run_wsgi()
            if not self.close_connection:
                # What the app left unread would otherwise be taken for the next request line.
                body.exhaust()
        finally:
            self.rfile = raw

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        # http.server's words for a kept connection that stayed idle for IDLE_TIMEOUT: its
        # normal end, not an error (a request cut off midway is werkzeug's "dropped" instead).
        if format.startswith("Request timed out"):
            return
        super().log_error(format, *args)

    def send_header(self, keyword: str, value: str) -> None:
        # werkzeug announces `Connection: close` on every answer; when the request allows a
        # kept connection that one header is left out (its answer is framed by Content-Length
        # or chunked encoding either way).
        if keyword.lower() == "connection" and value.lower() == "close" and not self.close_connection:
            return
        super().send_header(keyword, value)


class KeepAliveWSGIServer(ThreadedWSGIServer):
    """A threaded WSGI server that closes its clients' open connections when it is closed."""
    # So that a client's kept connection never reaches a stopped sandbox.

    def __init__(self, host: str, port: int, app: Callable, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(host, port, app, handler=KeepAliveRequestHandler, **kwargs)

    def track(self, connection: socket.socket, *, opened: bool) -> None:
        """Remember or forget one client connection."""
        with self._connections_lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def server_close(self) -> None:
        super().server_close()
        with self._connections_lock:
            open_now = list(self._connections)
            self._connections.clear()
        for connection in open_now:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client closed it meanwhile


def make_server(host: str, port: int, app: Callable) -> KeepAliveWSGIServer:
    """A threaded server for `app` on host:port (0 = any free port) that keeps connections alive."""
    return KeepAliveWSGIServer(host, port, app)


def is_loopback(host: str) -> bool:
    """Whether listening on `host` keeps a server to this machine ("" and 0.0.0.0 are every interface)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may stand for any interface


def warn_if_exposed(host: str, what: str) -> bool:
    """Log loudly when `what` listens beyond loopback (told to with --host or a setting); True if so."""
    if is_loopback(host):
        return False
    log.warning(
        "\n%s\n!! %s listens on %r: NOT ONLY THIS MACHINE can reach it. It has no login, accepts its\n"
        "!! well-known default keys, shows buyers' data and mail. Use 127.0.0.1 unless you mean it.\n%s",
        "!" * 100, what, host or "every interface", "!" * 100,
    )
    return True
