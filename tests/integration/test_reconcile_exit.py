"""`flask billing reconcile` tells cron when it could not do its work: a non-zero exit and what failed."""

from __future__ import annotations

import socket

from storefront.extensions import db
from storefront.models import Payment
from tests.support.records import subscription
from tests.support.subscribing import subscribe


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_reconcile_fails_when_iamport_cannot_be_reached(app_factory):
    app = app_factory(IAMPORT_API_URL=f"http://127.0.0.1:{closed_port()}", IAMPORT_READ_RETRIES=0)
    result = app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert result.exit_code != 0
    assert "could not reach iamport" in result.output
    assert "settled" not in result.output


def test_reconcile_fails_when_lookups_fail_and_passes_once_they_answer(shop):
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper)
    sub = subscription(shop, sub_id)
    with shop.context():
        db.session.add(Payment(merchant_uid="rep_lost_1", user_id=sub.user_id, subscription_id=sub_id,
                               amount=9, currency="USD", kind="repeat", customer_uid=sub.customer_uid))
        db.session.commit()
    runner = shop.app.test_cli_runner()
    # The client holds a token already, so only the lookups meet the faults.
    assert runner.invoke(args=["billing", "reconcile", "--min-age", "0"]).exit_code == 0
    shop.sandbox.set_faults(error_rate=1)
    try:
        failed = runner.invoke(args=["billing", "reconcile", "--min-age", "0"])
    finally:
        shop.sandbox.set_faults(error_rate=0)
    assert failed.exit_code != 0, failed.output
    assert "still pending 1" in failed.output
    assert "calls to iamport failed" in failed.output
    again = runner.invoke(args=["billing", "reconcile", "--min-age", "0"])
    assert again.exit_code == 0, again.output
