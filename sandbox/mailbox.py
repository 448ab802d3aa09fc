"""The customer's mailbox: an SMTP server (aiosmtpd) in its own thread that keeps every message."""
from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from .database import StoreClosed
from .serving import warn_if_exposed

if TYPE_CHECKING:
    from .state import State

log = logging.getLogger(__name__)

# The largest message accepted (SMTP's SIZE); a shop's mail is a few tens of KiB.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
# The name the server greets with: a fixed one, because aiosmtpd's default asks DNS (socket.getfqdn).
SERVER_NAME = "sandbox.localhost"


def _part_text(part: Message | None) -> str:
    """A text part's content decoded to str ("" when the message has no such part)."""
    if part is None:
        return ""
    try:
        return part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError):
        # An unknown or wrong charset: show what can be read rather than lose the message.
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def parse(content: bytes) -> dict[str, str]:
    """The fields the mailbox shows of one raw message: subject (RFC 2047 decoded), text, html, Message-ID."""
    message = message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return {
        "sender": str(message.get("From", "")),
        # A long encoded subject may be folded from its first line on; mail programs show it trimmed.
        "subject": str(message.get("Subject", "")).strip(),
        "text": _part_text(message.get_body(preferencelist=("plain",))),
        "html": _part_text(message.get_body(preferencelist=("html",))),
        "message_id": str(message.get("Message-ID", "")).strip(),
    }


# Mail to any address at this domain is refused for good (550), as a mail server refuses an
# address that does not exist.
NO_SUCH_DOMAIN = "nomailbox.test"


class _Handler:
    """aiosmtpd's handler: every recipient of the envelope gets the message in the store."""

    def __init__(self, state: "State") -> None:
        self._state = state

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        # The mailbox's test address, as cards have theirs: nobody lives at this domain.
        if address.lower().endswith("@" + NO_SUCH_DOMAIN):
            return "550 5.1.1 No such mailbox here (the sandbox's address that never exists)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self._state.knobs.mail_refuse:
            return "451 4.3.0 The sandbox's mailbox refuses mail for now (fault mail_refuse)"
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        fields = parse(content)
        # Real time, ISO-8601 in UTC: when the message really arrived. The sandbox clock's
        # reading is kept beside it, because the operator page shows everything in that time.
        received_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        try:
            self._state.store.mail_add(envelope.rcpt_tos, fields, received_at, self._state.clock.now())
        except StoreClosed:
            return "421 The sandbox is stopping"
        log.info("mail %r for %s", fields["subject"], ", ".join(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class Mailbox:
    """The SMTP server on (host, port), port 0 binding any free one; started and stopped with the sandbox."""

    def __init__(self, state: "State", host: str, port: int) -> None:
        self._state = state
        self.host = host
        self._wanted_port = port
        self.port: int | None = None
        self.error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        # The open client connections, closed by stop().
        self.sessions: set[SMTP] = set()

    @property
    def running(self) -> bool:
        """Whether the server listens."""
        return self.port is not None

    def start(self, timeout: float = 10.0) -> None:
        """Bind and serve in a thread; a port that cannot be bound is logged, and the sandbox runs on."""
        if self._thread is not None:
            return
        warn_if_exposed(self.host, "the sandbox's SMTP server (the customers' mailbox)")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="sandbox-smtp", daemon=True)
        self._thread.start()
        ready.wait(timeout)
        if self.error:
            log.error("the sandbox's mailbox could not listen on %s:%s (%s); mail to it is refused",
                      self.host, self._wanted_port, self.error)
        else:
            log.info("sandbox mailbox: SMTP on %s:%s", self.host, self.port)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the server and its connections, and end the thread."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # the loop closed meanwhile: the thread is ending by itself
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the sandbox's SMTP thread did not stop within %.1fs", timeout)
        self._thread = None
        self.port = None

    def _session(self) -> SMTP:
        session = _Session(self, _Handler(self._state), hostname=SERVER_NAME, ident="iamport sandbox",
                           data_size_limit=MAX_MESSAGE_BYTES, loop=self._loop)
        return session

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            # The loop's own create_server binds port 0 (aiosmtpd 1.4.6's Controller cannot: aiosmtpd#388).
            server = await loop.create_server(self._session, self.host, self._wanted_port)
        except OSError as exc:
            self.error = str(exc)
            ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            # Python 3.11's server.close() leaves accepted connections open: close them here.
            for session in list(self.sessions):
                if session.transport is not None:
                    session.transport.close()
            await server.wait_closed()
            pending = [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


class _Session(SMTP):
    """One client connection, known to the mailbox so that stop() can close it."""

    def __init__(self, mailbox: Mailbox, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._mailbox = mailbox

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._mailbox.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._mailbox.sessions.discard(self)
        super().connection_lost(error)
