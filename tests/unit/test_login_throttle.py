"""The log-in throttle: growing delays per e-mail and client address, a ceiling per address."""

from __future__ import annotations

import pytest

from storefront import throttle
from tests.support.accounts import AuthActions
from tests.support.addresses import ATTACKER, GATEWAY, OWNER_DEVICE, from_address
from tests.support.login_throttle import ACCOUNTS_PER_ADDRESS, FREE_FAILURES, fail_from


@pytest.fixture
def ada(auth):
    auth.register()
    auth.logout()
    return auth


def test_the_owner_logs_in_from_another_address_after_50_failures_from_one(app, client, ada, throttle_clock):
    fail_from(AuthActions(app.test_client()), throttle_clock, ATTACKER, 50)
    response = ada.login(**from_address(OWNER_DEVICE))
    assert response.status_code == 302 and response.location.endswith("/account")
    assert client.get("/account").status_code == 200


def test_the_attacking_pair_waits_longer_after_each_failure(client, ada, throttle_clock):
    for _ in range(FREE_FAILURES):
        assert ada.login(password="wrong password", **from_address(ATTACKER)).status_code == 401
    waits = []
    for _ in range(14):
        refused = ada.login(password="wrong password", **from_address(ATTACKER))
        assert refused.status_code == 429
        wait = int(refused.headers["Retry-After"])
        text = refused.get_data(as_text=True)
        assert f"Please wait {wait} second" in text or "minutes" in text
        waits.append(wait)
        # Even the right password is refused while the pair waits: its guesses are slowed, not tested.
        assert ada.login(**from_address(ATTACKER)).status_code == 429
        throttle_clock.advance(wait - 0.5)
        assert ada.login(password="wrong password", **from_address(ATTACKER)).status_code == 429
        throttle_clock.advance(0.5)
        assert ada.login(password="wrong password", **from_address(ATTACKER)).status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]
    assert client.get("/account").status_code == 302


def test_the_pair_is_told_in_minutes_when_the_wait_is_long(ada, throttle_clock):
    fail_from(ada, throttle_clock, ATTACKER, 15)
    refused = ada.login(**from_address(ATTACKER))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "900"
    assert "Please wait 15 minutes" in refused.get_data(as_text=True)
    json_client = ada.login(headers={"Accept": "application/json"}, **from_address(ATTACKER))
    assert json_client.status_code == 429 and "15 minutes" in json_client.json["error"]["message"]


def test_a_log_in_from_the_pair_clears_its_delays(ada, throttle_clock):
    fail_from(ada, throttle_clock, OWNER_DEVICE, 7)
    refused = ada.login(**from_address(OWNER_DEVICE))
    throttle_clock.advance(int(refused.headers["Retry-After"]))
    assert ada.login(**from_address(OWNER_DEVICE)).status_code == 302
    ada.logout()
    for _ in range(FREE_FAILURES):
        assert ada.login(password="wrong password", **from_address(OWNER_DEVICE)).status_code == 401


def test_a_pair_is_forgiven_a_day_after_its_last_failure(ada, throttle_clock):
    fail_from(ada, throttle_clock, OWNER_DEVICE, 12)
    throttle_clock.advance(24 * 3600 + 1)
    for _ in range(FREE_FAILURES):
        assert ada.login(password="wrong password", **from_address(OWNER_DEVICE)).status_code == 401


def test_20_failures_from_an_address_do_not_block_another_shopper_behind_it(app, client, throttle_clock):
    auth = AuthActions(client)
    for email in ("grace@example.com", "alan@example.com", "edsger@example.com", "barbara@example.com"):
        fail_from(auth, throttle_clock, GATEWAY, 5, email=email)
    auth.register(email="ada@example.com")
    auth.logout()
    response = auth.login(**from_address(GATEWAY))
    assert response.status_code == 302


def test_many_accounts_from_one_address_reach_the_ceiling(app, client, throttle_clock):
    auth = AuthActions(client)
    auth.register(email="ada@example.com")
    auth.logout()
    ceiling = ACCOUNTS_PER_ADDRESS
    for n in range(ceiling):
        assert auth.login(email=f"victim{n}@example.com", password="123456",
                          **from_address(ATTACKER)).status_code == 401
    refused = auth.login(email=f"victim{ceiling}@example.com", password="123456",
                         **from_address(ATTACKER))
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 3600
    # Every account is refused from there to a browser new to it, the right password too, until
    # the hour is over ...
    assert AuthActions(app.test_client()).login(**from_address(ATTACKER)).status_code == 429
    # ... while the same shopper elsewhere is not.
    assert auth.login(**from_address(OWNER_DEVICE)).status_code == 302
    auth.logout()
    throttle_clock.advance(3600)
    assert AuthActions(app.test_client()).login(**from_address(ATTACKER)).status_code == 302


def test_an_ipv6_client_is_one_address_per_64_network():
    assert throttle.client_address("2001:db8:1:2:aaaa::1") == throttle.client_address("2001:db8:1:2::ffff")
    assert throttle.client_address("2001:db8:1:2::1") != throttle.client_address("2001:db8:1:3::1")
    assert throttle.client_address("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.client_address("not an address") == "-"
