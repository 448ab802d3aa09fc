"""Unit tests of the iamport client: `responses` stands in for the HTTP API, a scripted local
server where what happens on the wire matters (timeouts, dropped connections, retries)."""

from __future__ import annotations

import json
import logging
import pickle
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import flask
import pytest
import responses

from storefront.iamport import IamportClient, IamportError
from tests.support.scripted_http import Answer, Drop, ScriptedServer, Stall

BASE = "http://iamport.test"
TOKEN_URL = f"{BASE}/users/getToken"
SECRET = "s3cret-rest-api-secret"
# Any endpoint but getToken, so catch-all stubs never shadow the token stub.
API_URL = re.compile(re.escape(BASE) + r"/(?!users/getToken).*")

PAYMENT = {
    "imp_uid": "imp_1",
    "merchant_uid": "order-1",
    "amount": 10.99,
    "cancel_amount": 0,
    "currency": "USD",
    "status": "paid",
}

CHARGE: dict[str, Any] = {
    "customer_uid": "cust-1",
    "merchant_uid": "order-2",
    "amount": Decimal("9.99"),
    "name": "Pro monthly",
    "currency": "USD",
    "buyer_email": "ann@example.com",
    "buyer_name": "Ann Lee",
}


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


def make_app(**config: Any) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config.update(
        IAMPORT_API_URL=BASE + "/",
        IAMPORT_API_KEY="rest-key",
        IAMPORT_API_SECRET=SECRET,
        IAMPORT_RETRY_BACKOFF=0,
    )
    app.config.update(config)
    return app


@pytest.fixture
def client() -> IamportClient:
    iamport = IamportClient()
    iamport.init_app(make_app())
    return iamport


def envelope(response: Any = None, code: int = 0, message: str = "") -> dict[str, Any]:
    return {"code": code, "message": message, "response": response}


def add_token(
    rsps: responses.RequestsMock,
    token: str = "tok-1",
    *,
    now: int | None = None,
    ttl: int = 1800,
    base: str = BASE,
) -> None:
    server_now = int(time.time()) if now is None else now
    body = {"access_token": token, "now": server_now, "expired_at": server_now + ttl}
    rsps.post(f"{base}/users/getToken", json=envelope(body))


def token_calls(rsps: responses.RequestsMock) -> list[Any]:
    return [c for c in rsps.calls if c.request.url == TOKEN_URL]


def api_calls(rsps: responses.RequestsMock) -> list[Any]:
    return [c for c in rsps.calls if c.request.url != TOKEN_URL]


def bearer(call: Any) -> str | None:
    return call.request.headers.get("Authorization")


# -- token ----------------------------------------------------------------------------------------


def test_token_is_fetched_once_and_reused(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps)
    rsps.get(f"{BASE}/payments/imp_1", json=envelope(PAYMENT))

    client.get_payment("imp_1")
    client.get_payment("imp_1")

    assert len(token_calls(rsps)) == 1
    assert [bearer(c) for c in api_calls(rsps)] == ["Bearer tok-1", "Bearer tok-1"]


def test_get_token_sends_keys_as_json_without_authorization(
    client: IamportClient, rsps: responses.RequestsMock
):
    add_token(rsps)
    rsps.get(f"{BASE}/payments/imp_1", json=envelope(PAYMENT))

    client.get_payment("imp_1")

    request = token_calls(rsps)[0].request
    assert request.method == "POST"
    assert request.headers["Content-Type"].startswith("application/json")
    assert json.loads(request.body) == {"imp_key": "rest-key", "imp_secret": SECRET}
    assert "Authorization" not in request.headers


@pytest.mark.parametrize("server_skew", [3600, -3600], ids=["server-ahead", "server-behind"])
def test_token_renewed_a_minute_before_the_expiry_the_server_gave(
    client: IamportClient, rsps: responses.RequestsMock, server_skew: int
):
    # The server's clock is an hour off ours: only expired_at - now may count, i.e. 63 s, so
    # the token is good for 3 s before the minute the client keeps in hand.
    server_now = int(time.time()) + server_skew
    add_token(rsps, "tok-1", now=server_now, ttl=63)
    add_token(rsps, "tok-2", now=server_now + 3, ttl=1800)
    rsps.get(API_URL, json=envelope(PAYMENT))

    client.get_payment("imp_1")
    client.get_payment("imp_1")
    assert len(token_calls(rsps)) == 1  # over 60 s left: still good

    time.sleep(3.1)  # under 60 s left: renew
    client.get_payment("imp_1")
    client.get_payment("imp_1")

    assert len(token_calls(rsps)) == 2
    assert [bearer(c) for c in api_calls(rsps)] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
        "Bearer tok-2",
    ]


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("GET", lambda c: c.get_payment("imp_1")),
        ("POST", lambda c: c.cancel_payment("imp_1", "customer asked")),
    ],
    ids=["read", "write"],
)
def test_401_renews_the_token_once_and_repeats_the_request(
    client: IamportClient,
    rsps: responses.RequestsMock,
    method: str,
    call: Callable[[IamportClient], Any],
):
    add_token(rsps, "tok-1")
    add_token(rsps, "tok-2")
    rsps.add(method, API_URL, status=401, json=envelope(code=-1, message="Unauthorized"))
    rsps.add(method, API_URL, json=envelope(PAYMENT))

    assert call(client)["imp_uid"] == "imp_1"

    assert len(token_calls(rsps)) == 2
    assert [bearer(c) for c in api_calls(rsps)] == ["Bearer tok-1", "Bearer tok-2"]


def test_second_401_raises(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps, "tok-1")
    add_token(rsps, "tok-2")
    rsps.get(API_URL, status=401, json=envelope(code=-1, message="Unauthorized"))

    with pytest.raises(IamportError) as caught:
        client.get_payment("imp_1")

    assert caught.value.status == 401
    assert not caught.value.unknown_outcome
    assert len(token_calls(rsps)) == 2
    assert len(api_calls(rsps)) == 2


def test_renewed_token_is_kept_after_a_401(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps, "tok-1")
    add_token(rsps, "tok-2")
    rsps.get(API_URL, status=401, json=envelope(code=-1, message="Unauthorized"))
    rsps.get(API_URL, json=envelope(PAYMENT))

    client.get_payment("imp_1")
    client.get_payment("imp_1")

    assert len(token_calls(rsps)) == 2
    assert bearer(api_calls(rsps)[-1]) == "Bearer tok-2"


def test_concurrent_calls_share_one_token_fetch(
    client: IamportClient, rsps: responses.RequestsMock
):
    def slow_token(request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(0.05)  # widen the window in which threads could race for a token
        now = int(time.time())
        body = envelope({"access_token": "tok-1", "now": now, "expired_at": now + 1800})
        return 200, {}, json.dumps(body)

    rsps.add_callback(responses.POST, TOKEN_URL, callback=slow_token)
    rsps.get(API_URL, json=envelope(PAYMENT))
    barrier = threading.Barrier(8)

    def fetch() -> str:
        barrier.wait()
        return client.get_payment("imp_1")["imp_uid"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: fetch(), range(8)))

    assert results == ["imp_1"] * 8
    assert len(token_calls(rsps)) == 1
    assert {bearer(c) for c in api_calls(rsps)} == {"Bearer tok-1"}


def test_wrong_keys_raise_without_calling_the_endpoint(
    client: IamportClient, rsps: responses.RequestsMock
):
    rsps.post(TOKEN_URL, status=401, json=envelope(code=-1, message="imp_key, imp_secret mismatch"))
    rsps.post(API_URL, json=envelope(PAYMENT))

    with pytest.raises(IamportError) as caught:
        client.cancel_payment("imp_1", "customer asked")

    error = caught.value
    assert (error.status, error.code) == (401, -1)
    assert "IAMPORT_API_KEY" in error.message
    assert SECRET not in str(error)
    assert not error.unknown_outcome
    assert len(token_calls(rsps)) == 1  # a 401 on getToken is not renewed
    assert api_calls(rsps) == []


def test_missing_keys_fail_before_any_request(rsps: responses.RequestsMock):
    iamport = IamportClient(make_app(IAMPORT_API_SECRET=""))

    with pytest.raises(IamportError, match="IAMPORT_API_SECRET") as caught:
        iamport.get_payment("imp_1")

    assert not caught.value.unknown_outcome
    assert len(rsps.calls) == 0


def test_malformed_token_answer_raises(client: IamportClient, rsps: responses.RequestsMock):
    rsps.post(TOKEN_URL, json=envelope({"access_token": "tok-1"}))

    with pytest.raises(IamportError, match="expired_at") as caught:
        client.get_payment("imp_1")

    assert caught.value.code is None
    assert api_calls(rsps) == []


def test_token_failure_leaves_a_write_known_not_done():
    script = {"/users/getToken": [Stall(2)], "/subscribe/payments/again": [Answer(200, PAYMENT)]}
    with ScriptedServer(script) as server:
        iamport = IamportClient(make_app(IAMPORT_API_URL=server.url, IAMPORT_READ_TIMEOUT=0.2))

        with pytest.raises(IamportError) as caught:
            iamport.charge_again(**CHARGE)

    # The charge itself never went out, so it is safe to mark it failed rather than pending.
    assert caught.value.status is None
    assert not caught.value.unknown_outcome
    assert server.count("/subscribe/payments/again") == 0
    assert server.count("/users/getToken") == 3  # getToken has no side effect: retried like a read


def test_token_fetch_is_retried_after_a_5xx(client: IamportClient, rsps: responses.RequestsMock):
    rsps.post(TOKEN_URL, status=502, body="bad gateway")
    add_token(rsps)
    rsps.get(API_URL, json=envelope(PAYMENT))

    assert client.get_payment("imp_1")["imp_uid"] == "imp_1"
    assert len(token_calls(rsps)) == 2


# -- retries and timeouts -------------------------------------------------------------------------


def test_get_retries_on_503_then_succeeds(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps)
    rsps.get(API_URL, status=503, body="busy")
    rsps.get(API_URL, status=503, json=envelope(code=-1, message="busy"))
    rsps.get(API_URL, json=envelope(PAYMENT))

    assert client.get_payment("imp_1")["status"] == "paid"

    assert len(api_calls(rsps)) == 3


def test_retries_wait_the_backoff_between_attempts():
    busy = Answer(503, envelope(code=-1, message="busy"))
    script = {"/users/getToken": [Answer(200, token_body())],
              "/payments/imp_1": [busy, busy, Answer(200, envelope(PAYMENT))]}
    with ScriptedServer(script) as server:
        iamport = IamportClient(make_app(IAMPORT_API_URL=server.url, IAMPORT_RETRY_BACKOFF=0.2))
        started = time.monotonic()

        assert iamport.get_payment("imp_1")["status"] == "paid"

    # urllib3's backoff: none before the first retry, then 2 x 0.2 s before the second.
    assert time.monotonic() - started >= 0.4
    assert server.count("/payments/imp_1") == 3


def test_get_gives_up_after_the_configured_retries(rsps: responses.RequestsMock):
    iamport = IamportClient(make_app(IAMPORT_READ_RETRIES=1))
    add_token(rsps)
    rsps.get(API_URL, status=500, json=envelope(code=-1, message="internal"))

    with pytest.raises(IamportError) as caught:
        iamport.get_payment("imp_1")

    assert (caught.value.status, caught.value.code) == (500, -1)
    assert caught.value.unknown_outcome
    assert len(api_calls(rsps)) == 2


def token_body() -> dict[str, Any]:
    now = int(time.time())
    return envelope({"access_token": "tok-1", "now": now, "expired_at": now + 1800})


def scripted_app(server: ScriptedServer, **config: Any) -> flask.Flask:
    return make_app(IAMPORT_API_URL=server.url, IAMPORT_READ_TIMEOUT=0.2, **config)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("failure", [Stall(2), Drop()], ids=["read-timeout", "dropped"])
def test_get_retries_network_errors_then_raises(failure: Stall | Drop):
    script = {"/users/getToken": [Answer(200, token_body())], "/payments/imp_1": [failure]}
    with ScriptedServer(script) as server:
        iamport = IamportClient(scripted_app(server))

        with pytest.raises(IamportError) as caught:
            iamport.get_payment("imp_1")

    assert caught.value.status is None
    assert caught.value.code is None
    assert caught.value.unknown_outcome
    assert server.count("/payments/imp_1") == 3


def test_get_recovers_after_a_timeout():
    script = {"/users/getToken": [Answer(200, token_body())],
              "/payments/imp_1": [Stall(2), Answer(200, envelope(PAYMENT))]}
    with ScriptedServer(script) as server:
        iamport = IamportClient(scripted_app(server))

        assert iamport.get_payment("imp_1")["imp_uid"] == "imp_1"

    assert server.count("/payments/imp_1") == 2


@pytest.mark.parametrize(
    ("method", "call", "retried"),
    [
        ("GET", lambda c: c.get_payment("imp_1"), True),
        ("POST", lambda c: c.charge_again(**CHARGE), False),
    ],
    ids=["read", "write"],
)
def test_a_refused_connection_is_retried_for_reads_only(
    method: str, call: Callable[[IamportClient], Any], retried: bool
):
    iamport = IamportClient(make_app(IAMPORT_API_URL=closed_port_url(), IAMPORT_RETRY_BACKOFF=0.5))
    # A token is held already, so that only the call itself meets the closed port.
    now = int(time.time())
    with responses.RequestsMock() as rsps:
        rsps.post(re.compile(r".*/users/getToken"),
                  json=envelope({"access_token": "tok-1", "now": now, "expired_at": now + 1800}))
        iamport.authenticate()
    started = time.monotonic()

    with pytest.raises(IamportError) as caught:
        call(iamport)

    # Two retries wait 0 + 1.0 s of backoff; a single attempt fails at once.
    assert (time.monotonic() - started >= 1.0) is retried
    assert caught.value.status is None
    assert caught.value.unknown_outcome


def test_post_is_not_retried_on_503(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps)
    rsps.post(API_URL, status=503, body="busy")
    rsps.post(API_URL, json=envelope(PAYMENT))

    with pytest.raises(IamportError) as caught:
        client.charge_again(**CHARGE)

    assert caught.value.status == 503
    assert caught.value.unknown_outcome
    assert len(api_calls(rsps)) == 1


@pytest.mark.parametrize("failure", [Stall(2), Drop()], ids=["read-timeout", "dropped"])
def test_write_network_error_is_not_retried_and_outcome_unknown(failure: Stall | Drop):
    script = {"/users/getToken": [Answer(200, token_body())],
              "/subscribe/payments/again": [failure, Answer(200, envelope(PAYMENT))]}
    with ScriptedServer(script) as server:
        iamport = IamportClient(scripted_app(server))

        with pytest.raises(IamportError) as caught:
            iamport.charge_again(**CHARGE)

    assert caught.value.status is None
    assert caught.value.unknown_outcome
    assert server.count("/subscribe/payments/again") == 1


def test_delete_is_not_retried(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps)
    rsps.delete(API_URL, status=502, body="bad gateway")
    rsps.delete(API_URL, json=envelope({"customer_uid": "cust-1"}))

    with pytest.raises(IamportError):
        client.delete_billing_key("cust-1")

    assert len(api_calls(rsps)) == 1


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, (3.05, 10.0)),
        ({"IAMPORT_CONNECT_TIMEOUT": "1.5", "IAMPORT_READ_TIMEOUT": 4}, (1.5, 4.0)),
    ],
    ids=["defaults", "configured"],
)
def test_every_request_carries_connect_and_read_timeouts(
    rsps: responses.RequestsMock,
    config: dict[str, Any],
    expected: tuple[float, float],
):
    iamport = IamportClient(make_app(**config))
    add_token(rsps)
    rsps.get(API_URL, status=503, body="busy")
    rsps.get(API_URL, json=envelope(PAYMENT))
    rsps.post(API_URL, json=envelope(PAYMENT))
    rsps.delete(API_URL, json=envelope({"customer_uid": "cust-1"}))

    iamport.get_payment("imp_1")
    iamport.cancel_payment("imp_1", "customer asked")
    iamport.delete_billing_key("cust-1")

    # getToken, GET 503, GET 200, POST, DELETE
    assert len(rsps.calls) == 5
    assert [call.request.req_kwargs["timeout"] for call in rsps.calls] == [expected] * 5


# -- error paths ----------------------------------------------------------------------------------


def test_nonzero_code_with_http_200_raises_with_code_and_message(
    client: IamportClient, rsps: responses.RequestsMock
):
    add_token(rsps)
    rsps.post(API_URL, json=envelope(code=1, message="취소할 결제건이 존재하지 않습니다."))

    with pytest.raises(IamportError) as caught:
        client.cancel_payment("imp_1", "customer asked")

    error = caught.value
    assert (error.code, error.status) == (1, 200)
    assert error.message == "취소할 결제건이 존재하지 않습니다."
    assert not error.unknown_outcome
    assert not error.not_found


def test_404_is_not_found_with_the_envelope(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps)
    rsps.get(API_URL, status=404, json=envelope(code=-1, message="존재하지 않는 결제정보입니다."))

    with pytest.raises(IamportError) as caught:
        client.find_payment("order-1")

    error = caught.value
    assert error.not_found
    assert (error.code, error.status) == (-1, 404)
    assert error.message == "존재하지 않는 결제정보입니다."
    assert not error.unknown_outcome
    assert len(api_calls(rsps)) == 1  # a 404 is an answer, not retried


def test_404_without_an_envelope(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps)
    rsps.get(API_URL, status=404, body="Not Found")

    with pytest.raises(IamportError) as caught:
        client.get_billing_key("cust-1")

    assert caught.value.not_found
    assert caught.value.code is None
    assert "/subscribe/customers/cust-1" in caught.value.message


@pytest.mark.parametrize(
    ("method", "call", "unknown"),
    [
        ("GET", lambda c: c.get_payment("imp_1"), False),
        ("POST", lambda c: c.charge_again(**CHARGE), True),
    ],
    ids=["read", "write"],
)
def test_non_json_200_raises_a_readable_error(
    client: IamportClient,
    rsps: responses.RequestsMock,
    method: str,
    call: Callable[[IamportClient], Any],
    unknown: bool,
):
    add_token(rsps)
    rsps.add(method, API_URL, body="<html>maintenance</html>", content_type="text/html")

    with pytest.raises(IamportError, match="not its JSON envelope") as caught:
        call(client)

    assert caught.value.status == 200
    assert caught.value.code is None
    # An unreadable answer to a charge may hide a charge that went through.
    assert caught.value.unknown_outcome is unknown


@pytest.mark.parametrize(
    "body",
    ['{"code": 0, "message": "", "response": null}', '{"code": "0"}', "[1, 2]", ""],
    ids=["null-response", "string-code", "not-an-object", "empty"],
)
def test_malformed_envelopes_raise(
    client: IamportClient, rsps: responses.RequestsMock, body: str
):
    add_token(rsps)
    rsps.get(API_URL, body=body, content_type="application/json")

    with pytest.raises(IamportError) as caught:
        client.get_payment("imp_1")

    assert caught.value.status == 200


def test_error_messages_and_logs_never_carry_the_secret_or_token(
    client: IamportClient, rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="storefront.iamport")
    add_token(rsps, "tok-very-private")
    echo = f"bad request from key rest-key secret {SECRET} token tok-very-private"
    rsps.post(API_URL, status=400, json=envelope(code=-1, message=echo))

    with pytest.raises(IamportError) as caught:
        client.cancel_payment("imp_1", "customer asked")

    for text in (str(caught.value), caught.value.message, caplog.text):
        assert SECRET not in text
        assert "tok-very-private" not in text
    assert "POST /payments/cancel -> 400" in caplog.text
    assert "POST /users/getToken -> 200" in caplog.text
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_error_str_and_pickle():
    error = IamportError(-1, "declined", 200)
    assert str(error) == "declined (HTTP 200, code -1)"
    assert str(IamportError(None, "timed out")) == "timed out"

    copy = pickle.loads(pickle.dumps(IamportError(None, "x", None, unknown_outcome=False)))
    assert (copy.code, copy.message, copy.status, copy.unknown_outcome) == (None, "x", None, False)


# -- amounts --------------------------------------------------------------------------------------


def test_amounts_are_decoded_as_decimal(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps)
    rsps.get(
        API_URL,
        body='{"code": 0, "message": null, "response": {"amount": 10.99, "cancel_amount": 0}}',
        content_type="application/json",
    )

    payment = client.get_payment("imp_1")

    assert payment["amount"] == Decimal("10.99")
    assert isinstance(payment["amount"], Decimal)
    assert payment["cancel_amount"] == 0


@pytest.mark.parametrize(
    ("amount", "encoded"),
    [(Decimal("10.99"), "10.99"), (Decimal("100.00"), "100"), (Decimal("1E+3"), "1000"), (5, "5")],
)
def test_decimal_amounts_are_sent_as_exact_json_numbers(
    client: IamportClient, rsps: responses.RequestsMock, amount: Any, encoded: str
):
    add_token(rsps)
    rsps.post(API_URL, json=envelope(PAYMENT))

    client.prepare_payment("order-1", amount, "USD")

    raw = api_calls(rsps)[0].request.body.decode()
    assert f'"amount": {encoded}' in raw
    assert json.loads(raw, parse_float=Decimal)["amount"] == Decimal(amount)


@pytest.mark.parametrize("amount", [Decimal("0.1000000000000000000001"), Decimal("NaN")])
def test_amounts_that_cannot_be_sent_exactly_are_refused_before_any_request(
    client: IamportClient, rsps: responses.RequestsMock, amount: Decimal
):
    with pytest.raises(ValueError):
        client.prepare_payment("order-1", amount)

    assert len(rsps.calls) == 0


# -- endpoints ------------------------------------------------------------------------------------

AT = datetime(2030, 1, 1, tzinfo=timezone.utc)
AT_UNIX = 1893456000
SCHEDULE = {"merchant_uid": "order-3", "schedule_at": AT, "amount": 5, "currency": "USD",
            "name": "Pro monthly"}


@pytest.mark.parametrize("lookup", [lambda c: c.get_payment("imp_1"),
                                    lambda c: c.find_payment("order-1"),
                                    lambda c: c.find_payment("order-1", "paid")])
def test_live_mode_never_asks_for_test_channel_payments(rsps, lookup):
    iamport = IamportClient()
    iamport.init_app(make_app(IAMPORT_MODE="live"))
    add_token(rsps)
    rsps.add("GET", API_URL, json=envelope(PAYMENT))
    lookup(iamport)
    [sent] = api_calls(rsps)
    assert parse_qs(urlsplit(sent.request.url).query) == {}


def test_live_mode_never_lists_test_channel_payments(rsps):
    iamport = IamportClient()
    iamport.init_app(make_app(IAMPORT_MODE="live"))
    add_token(rsps)
    rsps.add("GET", API_URL, json=envelope({"total": 0, "previous": 0, "next": 0, "list": []}))
    iamport.list_payments("paid", AT_UNIX - 60, AT_UNIX)
    [sent] = api_calls(rsps)
    assert parse_qs(urlsplit(sent.request.url).query) == {
        "from": [str(AT_UNIX - 60)], "to": [str(AT_UNIX)], "page": ["1"], "limit": ["20"]}


@pytest.mark.parametrize(
    ("call", "method", "path", "query", "body", "answer"),
    [
        (lambda c: c.get_payment("imp_1"), "GET", "/payments/imp_1",
         {"include_sandbox": ["true"]}, None, PAYMENT),
        (lambda c: c.find_payment("order-1"), "GET", "/payments/find/order-1",
         {"include_sandbox": ["true"]}, None, PAYMENT),
        (lambda c: c.find_payment("order-1", "paid"), "GET", "/payments/find/order-1/paid",
         {"include_sandbox": ["true"]}, None, PAYMENT),
        (lambda c: c.cancel_payment("imp_1", "tampered"), "POST", "/payments/cancel", {},
         {"imp_uid": "imp_1", "reason": "tampered"}, PAYMENT),
        (lambda c: c.cancel_payment("imp_1", "partial", Decimal("2.50"), Decimal("10.99")),
         "POST", "/payments/cancel", {},
         {"imp_uid": "imp_1", "reason": "partial", "amount": 2.5, "checksum": 10.99}, PAYMENT),
        (lambda c: c.prepare_payment("order-1", 1000), "POST", "/payments/prepare", {},
         {"merchant_uid": "order-1", "amount": 1000}, {"merchant_uid": "order-1"}),
        (lambda c: c.prepare_payment("order-1", Decimal("10.99"), "USD"), "POST",
         "/payments/prepare", {},
         {"merchant_uid": "order-1", "amount": 10.99, "currency": "USD"},
         {"merchant_uid": "order-1"}),
        (lambda c: c.get_prepared_payment("order-1"), "GET", "/payments/prepare/order-1", {},
         None, {"merchant_uid": "order-1"}),
        (lambda c: c.charge_again(**CHARGE), "POST", "/subscribe/payments/again", {},
         {**CHARGE, "amount": 9.99}, PAYMENT),
        (lambda c: c.charge_again(**CHARGE, notice_url="https://shop.test/iamport/webhook",
                                  custom_data={"subscription": 7}, buyer_tel="010"),
         "POST", "/subscribe/payments/again", {},
         {**CHARGE, "amount": 9.99, "notice_url": "https://shop.test/iamport/webhook",
          "custom_data": '{"subscription": 7}', "buyer_tel": "010"}, PAYMENT),
        (lambda c: c.get_billing_key("cust-1"), "GET", "/subscribe/customers/cust-1", {}, None,
         {"customer_uid": "cust-1"}),
        (lambda c: c.delete_billing_key("cust-1"), "DELETE", "/subscribe/customers/cust-1", {},
         None, {"customer_uid": "cust-1"}),
        (lambda c: c.delete_billing_key("cust-1", "new card"), "DELETE",
         "/subscribe/customers/cust-1", {"reason": ["new card"]}, None,
         {"customer_uid": "cust-1"}),
        (lambda c: c.schedule_payments("cust-1", [SCHEDULE]), "POST",
         "/subscribe/payments/schedule", {},
         {"customer_uid": "cust-1", "schedules": [{**SCHEDULE, "schedule_at": AT_UNIX}]}, []),
        (lambda c: c.unschedule_payments("cust-1"), "POST", "/subscribe/payments/unschedule", {},
         {"customer_uid": "cust-1"}, []),
        (lambda c: c.unschedule_payments("cust-1", ["order-3"]), "POST",
         "/subscribe/payments/unschedule", {},
         {"customer_uid": "cust-1", "merchant_uid": ["order-3"]}, []),
        (lambda c: c.get_schedule("order-3"), "GET", "/subscribe/payments/schedule/order-3", {},
         None, {"merchant_uid": "order-3"}),
        (lambda c: c.list_schedules(AT, AT + timedelta(days=30), "scheduled", page=2, limit=50),
         "GET", "/subscribe/payments/schedule",
         {"schedule_from": [str(AT_UNIX)], "schedule_to": [str(AT_UNIX + 30 * 86400)],
          "schedule_status": ["scheduled"], "page": ["2"], "limit": ["50"]}, None,
         {"total": 0, "previous": 0, "next": 0, "list": []}),
        (lambda c: c.list_payments("paid", AT - timedelta(days=90), AT, page=3, limit=100),
         "GET", "/payments/status/paid",
         {"from": [str(AT_UNIX - 90 * 86400)], "to": [str(AT_UNIX)], "page": ["3"], "limit": ["100"],
          "include_sandbox": ["true"]}, None,
         {"total": 201, "previous": 2, "next": 0, "list": [PAYMENT]}),
        (lambda c: c.list_payments("all", AT_UNIX - 60, AT_UNIX, sorting="-paid"),
         "GET", "/payments/status/all",
         {"from": [str(AT_UNIX - 60)], "to": [str(AT_UNIX)], "page": ["1"], "limit": ["20"],
          "sorting": ["-paid"], "include_sandbox": ["true"]}, None,
         {"total": 0, "previous": 0, "next": 0, "list": []}),
    ],
    ids=[
        "get_payment", "find_payment", "find_payment-status", "cancel_payment",
        "cancel_payment-partial", "prepare_payment", "prepare_payment-currency",
        "get_prepared_payment", "charge_again", "charge_again-extras", "get_billing_key",
        "delete_billing_key", "delete_billing_key-reason",
        "schedule_payments", "unschedule_payments-all", "unschedule_payments-some",
        "get_schedule", "list_schedules", "list_payments", "list_payments-all-sorted",
    ],
)
def test_each_method_calls_its_endpoint(
    client: IamportClient,
    rsps: responses.RequestsMock,
    call: Callable[[IamportClient], Any],
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: dict[str, Any] | None,
    answer: Any,
):
    add_token(rsps)
    rsps.add(method, API_URL, json=envelope(answer))

    assert call(client) == json.loads(json.dumps(answer), parse_float=Decimal)

    [sent] = api_calls(rsps)
    url = urlsplit(sent.request.url)
    assert sent.request.method == method
    assert url.path == path
    assert parse_qs(url.query) == query
    assert bearer(sent) == "Bearer tok-1"
    if body is None:
        assert not sent.request.body
    else:
        assert json.loads(sent.request.body) == body


def test_path_segments_are_quoted(client: IamportClient, rsps: responses.RequestsMock):
    add_token(rsps)
    rsps.get(API_URL, json=envelope(PAYMENT))

    client.find_payment("order/1 ?#x")

    assert urlsplit(api_calls(rsps)[0].request.url).path == "/payments/find/order%2F1%20%3F%23x"


def test_bad_arguments_are_refused_before_any_request(
    client: IamportClient, rsps: responses.RequestsMock
):
    with pytest.raises(ValueError):
        client.get_payment("")
    # A dot segment would be resolved to another endpoint by any URL normaliser on the way.
    for dots in (".", ".."):
        with pytest.raises(ValueError):
            client.get_payment(dots)
        with pytest.raises(ValueError):
            client.find_payment(dots)
        with pytest.raises(ValueError):
            client.get_billing_key(dots)
    with pytest.raises(ValueError):
        client.find_payment("order-1", "refunded")
    with pytest.raises(ValueError):
        client.schedule_payments("cust-1", [{**SCHEDULE, "schedule_at": datetime(2030, 1, 1)}])
    with pytest.raises(TypeError):
        client.list_schedules("2030-01-01", AT)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.list_payments("refunded", AT - timedelta(days=1), AT)
    with pytest.raises(ValueError):
        client.list_payments("paid", datetime(2030, 1, 1), AT)
    with pytest.raises(TypeError):
        client.list_payments("paid", "2030-01-01", AT)  # type: ignore[arg-type]

    assert len(rsps.calls) == 0


# -- Flask wiring ---------------------------------------------------------------------------------


def test_init_app_gives_each_app_a_client_of_its_own(
    rsps: responses.RequestsMock
):
    other = "http://other-iamport.test"
    first, second = make_app(), make_app(IAMPORT_API_URL=other)
    iamport = IamportClient()
    iamport.init_app(first)
    iamport.init_app(second)
    add_token(rsps)
    add_token(rsps, base=other)
    rsps.get(API_URL, json=envelope(PAYMENT))
    rsps.get(re.compile(re.escape(other) + r"/payments/.*"), json=envelope(PAYMENT))

    # What the storefront's code looks up: the app's own, whichever app is current.
    for app in (first, second):
        assert isinstance(app.extensions["iamport"], IamportClient)
        app.extensions["iamport"].get_payment("imp_1")

    hosts = [urlsplit(c.request.url).hostname for c in rsps.calls if "/payments/" in c.request.url]
    assert hosts == [urlsplit(BASE).hostname, urlsplit(other).hostname]


def test_calls_before_init_app_fail_clearly():
    with pytest.raises(RuntimeError, match="init_app"):
        IamportClient().get_payment("imp_1")


def test_one_client_serves_each_app_with_its_own_url_and_token(
    rsps: responses.RequestsMock
):
    other = "http://other-iamport.test"
    first, second = make_app(), make_app(IAMPORT_API_URL=other, IAMPORT_API_KEY="other-key")
    iamport = IamportClient()
    iamport.init_app(first)
    iamport.init_app(second)
    add_token(rsps, "tok-first")
    add_token(rsps, "tok-second", base=other)
    rsps.get(API_URL, json=envelope(PAYMENT))
    rsps.get(re.compile(re.escape(other) + r"/payments/.*"), json=envelope(PAYMENT))

    with first.app_context():
        iamport.get_payment("imp_1")
    with second.app_context():
        iamport.get_payment("imp_1")
    with first.app_context():
        iamport.get_payment("imp_1")

    sent = [(c.request.url.split("/payments")[0], bearer(c)) for c in rsps.calls
            if "/payments/" in c.request.url]
    assert sent == [
        (BASE, "Bearer tok-first"),
        (other, "Bearer tok-second"),
        (BASE, "Bearer tok-first"),
    ]


def test_proxy_and_ca_bundle_come_from_the_environment_read_at_start_up(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, tmp_path,
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine {urlsplit(BASE).hostname} login someone password secret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    iamport = IamportClient()
    iamport.init_app(make_app())
    # Changed later, the environment is not read again: what start-up saw is used.
    monkeypatch.setenv("HTTPS_PROXY", "http://other.internal:3128")
    add_token(rsps)
    rsps.get(API_URL, json=envelope({"imp_uid": "imp_1"}))
    with make_app().app_context():
        iamport.get_payment("imp_1")
    [call] = api_calls(rsps)
    scheme = urlsplit(BASE).scheme
    assert call.request.req_kwargs["proxies"][scheme] == "http://proxy.internal:3128"
    assert call.request.req_kwargs["verify"] == str(tmp_path / "ca.pem")
    # Our Bearer token, never the netrc entry's Basic credentials.
    assert bearer(call) == "Bearer tok-1"


def test_no_proxy_in_the_environment_sends_directly(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", urlsplit(BASE).hostname)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    iamport = IamportClient()
    iamport.init_app(make_app())
    add_token(rsps)
    rsps.get(API_URL, json=envelope({"imp_uid": "imp_1"}))
    with make_app().app_context():
        iamport.get_payment("imp_1")
    [call] = api_calls(rsps)
    assert not call.request.req_kwargs["proxies"]
    assert call.request.req_kwargs["verify"] is True
