"""What a recording owes iamport is written with it: a worker that dies after the commit loses
nothing, and reconcile carries it out (tests over real HTTP)."""

from __future__ import annotations

import pytest

from storefront import billing
from storefront.extensions import db
from storefront.models import Refund, RetiredKey
from tests.support.records import key_exists
from tests.support.subscribing import pay_a_second_window, subscribe


class WorkerKilled(Exception):
    """Stands for the process dying (a timeout, a deploy, out of memory)."""


def test_a_worker_killed_after_the_commit_leaves_its_refund_and_key_for_reconcile(shop, monkeypatch):
    shop.sandbox.set_delays(cancel_delay=0)
    shopper = shop.shopper()
    subscribe(shop, shopper)
    second = pay_a_second_window(shop, shopper)
    client = shop.app.extensions["iamport"]
    lookup = client.get_payment
    calls: list[str] = []

    def dies_after_the_lookup(imp_uid, *args, **kwargs):
        calls.append(imp_uid)
        if len(calls) > 1:  # the first call to iamport after the recording's commit
            raise WorkerKilled
        return lookup(imp_uid, *args, **kwargs)

    monkeypatch.setattr(client, "get_payment", dies_after_the_lookup)
    with shop.context(), pytest.raises(WorkerKilled):
        billing.verify_payment(second["imp_uid"])
    monkeypatch.setattr(client, "get_payment", lookup)
    with shop.context():
        assert billing.payment_by_merchant_uid(second["merchant_uid"]).status == "paid"
        [refund] = db.session.execute(db.select(Refund)).scalars()
        assert (refund.imp_uid, refund.status) == (second["imp_uid"], "owed")
        keys = [key.customer_uid for key in db.session.execute(db.select(RetiredKey)).scalars()]
        assert keys == [second["customer_uid"]]
    assert shop.sandbox.payment(second["imp_uid"])["status"] == "paid"

    with shop.context():
        report = billing.reconcile()
    assert report.refunds_done == 1 and report.keys_deleted == 1
    assert shop.sandbox.payment(second["imp_uid"])["status"] == "cancelled"
    assert not key_exists(shop, second["customer_uid"])
    with shop.context():
        assert billing.payment_by_merchant_uid(second["merchant_uid"]).status == "cancelled"
