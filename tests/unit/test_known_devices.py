"""Known devices: a browser that has logged in to an account before is not held back by what
others do from its address (the address ceiling, the address's delays and rate limit)."""

from __future__ import annotations

import pytest

from tests.support.accounts import AuthActions
from tests.support.addresses import GATEWAY, from_address
from tests.support.login_throttle import ACCOUNTS_PER_ADDRESS, fail_from


@pytest.fixture
def owner(app):
    """Ada's own browser, behind the office gateway: it signed up and logged in there once."""
    browser = AuthActions(app.test_client())
    browser.register()
    browser.logout()
    assert browser.login(**from_address(GATEWAY)).status_code == 302
    browser.logout()
    return browser


def fill_the_ceiling(app, throttle_clock) -> AuthActions:
    neighbour = AuthActions(app.test_client())
    for n in range(ACCOUNTS_PER_ADDRESS):
        assert neighbour.login(email=f"nobody{n}@example.com", password="wrong password",
                               **from_address(GATEWAY)).status_code == 401
    return neighbour


def test_a_neighbour_who_fills_the_addresss_ceiling_does_not_lock_out_a_known_device(app, owner, throttle_clock):
    neighbour = fill_the_ceiling(app, throttle_clock)
    # The neighbour's browser, and any browser new to the account, meets the ceiling ...
    assert neighbour.login(**from_address(GATEWAY)).status_code == 429
    assert AuthActions(app.test_client()).login(**from_address(GATEWAY)).status_code == 429
    # ... while Ada's own browser logs in.
    assert owner.login(**from_address(GATEWAY)).status_code == 302


def test_guesses_against_an_account_from_its_address_do_not_slow_its_known_device(app, owner, throttle_clock):
    neighbour = AuthActions(app.test_client())
    fail_from(neighbour, throttle_clock, GATEWAY, 12)
    assert neighbour.login(password="wrong password", **from_address(GATEWAY)).status_code == 429
    assert owner.login(**from_address(GATEWAY)).status_code == 302


def test_a_known_device_that_guesses_is_slowed_like_anyone(app, owner, throttle_clock):
    waits = fail_from(owner, throttle_clock, GATEWAY, 10)
    assert waits and waits == sorted(waits)
    assert owner.login(password="wrong password", **from_address(GATEWAY)).status_code == 429


def test_a_device_known_to_one_account_earns_nothing_for_another(app, throttle_clock):
    attacker = AuthActions(app.test_client())
    attacker.register(email="mallory@example.com", first_name="Mallory", last_name="Evil")
    attacker.logout()
    victim = AuthActions(app.test_client())
    victim.register()
    victim.logout()
    for n in range(ACCOUNTS_PER_ADDRESS):
        attacker.login(email=f"nobody{n}@example.com", password="wrong password", **from_address(GATEWAY))
    # Mallory's own cookie lets her into her own account only.
    assert attacker.login(password="correct horse", **from_address(GATEWAY)).status_code == 429
    assert attacker.login(email="mallory@example.com", **from_address(GATEWAY)).status_code == 302


def test_a_known_device_is_not_refused_by_the_addresss_rate_limit(limited):
    app = limited()
    browser = AuthActions(app.test_client())
    browser.register()
    browser.logout()
    neighbour = AuthActions(app.test_client())
    answers = [neighbour.login(email=f"nobody{n}@example.com", password="wrong password",
                               **from_address(GATEWAY)).status_code for n in range(31)]
    assert answers[-1] == 429
    assert browser.login(**from_address(GATEWAY)).status_code == 302
