"""The sandbox's HTTP server keeps connections alive as iamport's API does, safely."""
from __future__ import annotations

import http.client

import pytest
from flask import Flask, request

from sandbox.serving import KeepAliveRequestHandler
from tests.support.servers import serve_wsgi


@pytest.fixture
def served():
    """A small app on the sandbox's server: one route that reads its body, one that does not."""
    app = Flask(__name__)

    @app.post("/echo")
    def echo():
        return request.get_data()

    @app.post("/ignore")
    def ignore():
        return "ignored"

    @app.get("/peer")
    def peer():
        return str(request.environ["REMOTE_PORT"])

    with serve_wsgi(app) as running:
        yield running


def connect(served) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    connection.connect()
    return connection


def ask(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, bytes, str | None]:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read(), response.getheader("Connection")


def test_requests_on_one_connection_are_served_on_it(served):
    connection = connect(served)
    try:
        first = ask(connection, "GET", "/peer")
        second = ask(connection, "POST", "/echo", b"hello")
        third = ask(connection, "GET", "/peer")
    finally:
        connection.close()
    assert first[0] == 200 and first[2] is None
    assert second == (200, b"hello", None)
    # The same client port both times: the second GET came on the first connection.
    assert third[1] == first[1]


def test_a_body_the_app_did_not_read_is_not_taken_for_the_next_request(served):
    connection = connect(served)
    try:
        ignored = ask(connection, "POST", "/ignore", b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
        echoed = ask(connection, "POST", "/echo", b"next")
    finally:
        connection.close()
    assert ignored[:2] == (200, b"ignored")
    assert echoed[:2] == (200, b"next")


def test_a_client_that_asks_for_close_gets_it(served):
    connection = connect(served)
    try:
        status, _, header = ask(connection, "GET", "/peer", headers={"Connection": "close"})
        assert status == 200 and header == "close"
        assert connection.sock is None or connection.sock.recv(1) == b""
    finally:
        connection.close()


def test_a_chunked_request_is_answered_and_its_connection_closed(served):
    connection = connect(served)
    try:
        connection.putrequest("POST", "/echo")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        connection.send(b"5\r\nhello\r\n0\r\n\r\n")
        response = connection.getresponse()
        answer = (response.status, response.read(), response.getheader("Connection"))
        assert answer == (200, b"hello", "close")
    finally:
        connection.close()


def test_stopping_the_server_closes_its_kept_connections(served):
    connection = connect(served)
    try:
        assert ask(connection, "GET", "/peer")[0] == 200
        served.stop()
        # A client never reaches a stopped sandbox through a connection it kept.
        assert connection.sock.recv(1) == b""
    finally:
        connection.close()


def test_an_idle_kept_connection_is_closed_quietly(served, monkeypatch, caplog):
    monkeypatch.setattr(KeepAliveRequestHandler, "timeout", 0.2)
    connection = connect(served)
    try:
        assert ask(connection, "GET", "/peer")[0] == 200
        connection.sock.settimeout(5)
        # Closed by the server once idle for its timeout, with nothing logged as an error.
        assert connection.sock.recv(1) == b""
    finally:
        connection.close()
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
