"""The served shop stops cleanly: a request that comes while it stops leaves no database connection open."""

from __future__ import annotations

import threading
import time

import requests

from tests.support.apps import open_connections
from tests.support.shop import make_shop
from tests.support.waiting import wait_until


def test_requests_that_come_while_the_shop_stops_leave_no_connection_open(tmp_path, sandbox):
    # As a browser's page that polls, or a webhook the sandbox sends late, does: requests on a
    # kept connection, each reading the database, until the shop stops answering.
    shop = make_shop(tmp_path, sandbox)
    answered: list[int] = []

    def poll() -> None:
        with requests.Session() as http:
            while True:
                try:
                    answered.append(http.get(f"{shop.url}/", timeout=5).status_code)
                    time.sleep(0.002)  # a moment with no request in, for the shop's stop to see
                except requests.RequestException:
                    return  # the shop has stopped

    pollers = [threading.Thread(target=poll, name=f"poller-{i}") for i in range(3)]
    for poller in pollers:
        poller.start()
    try:
        wait_until(lambda: len(answered) >= 10, timeout=10, message="the pollers' first answers")
        shop.stop()
    finally:
        shop.served.stop()
        for poller in pollers:
            poller.join(10)
    # A request the server had taken before it closed may still be finishing.
    assert shop.served.wait_idle(10)
    assert 200 in answered
    left = open_connections(shop.app)
    for connection in left:
        connection.close()  # so that the garbage collector does not report it in another test
    assert left == []
