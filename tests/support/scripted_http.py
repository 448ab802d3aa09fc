"""A local HTTP server that answers from a script, for tests of what a client does on the wire."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    """Answer with this status and JSON body."""

    status: int = 200
    body: Any = None


@dataclass(frozen=True)
class Stall:
    """Answer 200 only after `seconds`, so that a shorter read timeout expires first."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without a byte of answer."""


Action = Answer | Stall | Drop


@dataclass
class ScriptedServer:
    """Serves each path from its own list of actions (the last one repeats); records requests."""

    script: dict[str, list[Action]]
    received: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def count(self, path: str) -> int:
        """How many requests for `path` arrived."""
        return sum(1 for _, got in self.received if got == path)

    def _next(self, path: str) -> Action:
        actions = self.script[path]
        return actions.pop(0) if len(actions) > 1 else actions[0]

    def __enter__(self) -> ScriptedServer:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                path = self.path.split("?", 1)[0]
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted.received.append((self.command, path))
                action = scripted._next(path)
                if isinstance(action, Drop):
                    self.close_connection = True
                    return
                if isinstance(action, Stall):
                    time.sleep(action.seconds)
                    action = Answer(200, {"code": 0, "message": None, "response": {}})
                payload = json.dumps(action.body).encode()
                try:
                    self.send_response(action.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting (a Stall): nobody to answer

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
