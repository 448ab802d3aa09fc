"""Renewals that PAYMENTWALL holds for risk review, over real HTTP: one period is paid once."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from storefront import billing
from storefront.periods import next_period_end
from tests.support.records import DAY, payments, scheduled, subscription
from tests.support.sandbox import RENEWAL_REVIEW_APPROVE_CARD, RENEWAL_REVIEW_DECLINE_CARD
from tests.support.subscribing import subscribe
from tests.support.waiting import wait_until

REVIEW = 3600
# The shop fixture keeps SHOP_TIMEZONE's default.
SHOP_ZONE = ZoneInfo("Asia/Seoul")


def charges_at_iamport(shop, customer_uid) -> list[dict]:
    """The scheduled charges iamport made on the key, with their final status."""
    listed = shop.sandbox.api("GET", f"/subscribe/customers/{customer_uid}/payments").json()
    return [p for p in listed["response"]["list"] if p["customer_uid_usage"] == "payment.scheduled"]


@pytest.mark.parametrize("card", [RENEWAL_REVIEW_APPROVE_CARD, RENEWAL_REVIEW_DECLINE_CARD])
def test_a_renewal_held_for_review_is_charged_once_for_its_period(shop, card):
    shop.sandbox.set_delays(review_delay=REVIEW)
    shopper = shop.shopper()
    sub_id = subscribe(shop, shopper, card=card)
    before = subscription(shop, sub_id)
    [first] = scheduled(shop, sub_id)

    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="review"), timeout=6,
               message="the held renewal's webhook")
    # While the review lasts, reconcile runs (twice, as on two hosts): the held attempt holds
    # the period, so no other attempt is made for it.
    for _ in range(2):
        with shop.context():
            billing.reconcile()
    assert scheduled(shop, sub_id) == []
    assert [p.merchant_uid for p in payments(shop, sub_id, kind="renewal")] == [first.merchant_uid]
    held = subscription(shop, sub_id)
    assert (held.status, held.retry_count, held.current_period_end) == \
        ("active", 0, before.current_period_end)

    shop.sandbox.advance(REVIEW + 60)
    if card == RENEWAL_REVIEW_APPROVE_CARD:
        wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid"), timeout=6,
                   message="the approval's webhook")
        wait_until(lambda: scheduled(shop, sub_id), timeout=6, message="the next period's schedule")
        after = subscription(shop, sub_id)
        assert after.status == "active" and after.retry_count == 0
        assert after.current_period_start == before.current_period_end
        assert after.current_period_end == next_period_end(before.billing_anchor,
                                                           before.current_period_end, "month",
                                                           zone=SHOP_ZONE)
        [paid] = payments(shop, sub_id, kind="renewal", status="paid")
        assert paid.merchant_uid == first.merchant_uid
        [following] = scheduled(shop, sub_id)
        assert following.period_start == after.current_period_end
        assert [p["status"] for p in charges_at_iamport(shop, before.customer_uid)] == ["paid"]
    else:
        wait_until(lambda: subscription(shop, sub_id).status == "past_due", timeout=6,
                   message="the decline's webhook")
        after = subscription(shop, sub_id)
        assert after.retry_count == 1 and after.current_period_end == before.current_period_end
        assert payments(shop, sub_id, kind="renewal", status="paid") == []
        wait_until(lambda: scheduled(shop, sub_id), timeout=6, message="the retry")
        [retry] = scheduled(shop, sub_id)
        assert (retry.period_start, retry.attempt) == (before.current_period_end, 1)
        assert [p["status"] for p in charges_at_iamport(shop, before.customer_uid)] == ["failed"]
    # Reconcile afterwards changes nothing more.
    with shop.context():
        billing.reconcile()
    assert subscription(shop, sub_id).status == after.status
    assert len(payments(shop, sub_id, kind="renewal", status="paid")) == \
        (1 if card == RENEWAL_REVIEW_APPROVE_CARD else 0)
