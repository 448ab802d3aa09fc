"""Fixtures of the tests over real HTTP: two shoppers subscribed on the served shop (`shop` and `sandbox` come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support.records import registered
from tests.support.subscribing import pay_first
from tests.support.waiting import wait_until


@pytest.fixture
def two(shop):
    """Ada on Basic and Grace on Premium, each subscribed with the first renewal scheduled."""
    ada = shop.shopper()
    grace = shop.shopper(email="grace@example.com", first="Grace", last="Hopper")
    mine = pay_first(shop, ada, "basic-monthly")
    theirs = pay_first(shop, grace, "premium-monthly")
    # The key is confirmed, and the renewal scheduled, after the key's webhook is answered.
    for _, _, sub_id in (mine, theirs):
        wait_until(lambda sub_id=sub_id: registered(shop, sub_id), timeout=6,
                   message="the first renewal schedule")
    return ada, grace, mine, theirs
