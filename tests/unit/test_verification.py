"""What iamport's record means for our order, judged without a database or an app."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from storefront.billing.verification import (
    REVIEW_EXPIRED,
    Outcome,
    judge,
    may_move,
    mismatch_reason,
    not_the_orders_reason,
    refusal_reason,
    to_decimal,
)
from storefront.models import Payment, PaymentStatus


def order(status: PaymentStatus = PaymentStatus.PENDING, **fields) -> Payment:
    """A payment of ours held in memory only."""
    return Payment(merchant_uid="sub_1", amount=Decimal("9.90"), currency="USD",
                   customer_uid="cu_1_abc", status=status, **fields)


def record(**overrides) -> dict:
    """iamport's record of a paid payment on the order, with `overrides`."""
    info = {"imp_uid": "imp_1", "merchant_uid": "sub_1", "amount": 9.9, "currency": "usd",
            "status": "paid", "customer_uid": "cu_1_abc", "pg_provider": "paymentwall",
            "pg_id": "mid1", "sandbox": False}
    info.update(overrides)
    return info


@pytest.mark.parametrize(
    ("status", "overrides", "expected"),
    [
        (PaymentStatus.PENDING, {}, Outcome(PaymentStatus.PAID)),
        # `ready`: iamport knows the order, nobody paid it yet (a window opened and left).
        (PaymentStatus.PENDING, {"status": "ready"}, Outcome(PaymentStatus.PENDING)),
        (PaymentStatus.PENDING, {"status": "failed", "fail_reason": "Insufficient funds"},
         Outcome(PaymentStatus.FAILED, "Insufficient funds")),
        (PaymentStatus.PENDING, {"status": "failed", "fail_reason": None},
         Outcome(PaymentStatus.FAILED, "The card was declined.")),
        # Closing the window leaves the order open; a renewal has no window to close.
        (PaymentStatus.PENDING, {"status": "failed", "fail_reason": "The user closed the payment window"},
         Outcome(PaymentStatus.PENDING)),
        (PaymentStatus.SCHEDULED, {"status": "failed", "fail_reason": "cancelled by the user"},
         Outcome(PaymentStatus.FAILED, "cancelled by the user")),
        (PaymentStatus.SCHEDULED, {"status": "failed", "fail_reason": "Held for risk review"},
         Outcome(PaymentStatus.REVIEW, "Held for risk review")),
        # A review reason after a settled failure is a failure still.
        (PaymentStatus.FAILED, {"status": "failed", "fail_reason": "Held for review"},
         Outcome(PaymentStatus.FAILED, "Held for review")),
        (PaymentStatus.PAID, {"status": "cancelled", "cancel_reason": "refund"},
         Outcome(PaymentStatus.CANCELLED, "refund")),
        (PaymentStatus.PAID, {"status": "cancelled", "cancel_reason": ""}, Outcome(PaymentStatus.CANCELLED)),
        (PaymentStatus.REVIEW, {"status": "something new"}, Outcome(PaymentStatus.REVIEW)),
    ],
)
def test_judge_reads_iamports_status_against_ours(status, overrides, expected):
    assert judge(order(status), record(**overrides)) == expected


NOW = datetime(2027, 1, 10, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("held_until", "overrides", "expected"),
    [
        (datetime(2027, 1, 10, 12, 1, tzinfo=timezone.utc),
         {"status": "failed", "fail_reason": "Held for risk review"},
         Outcome(PaymentStatus.REVIEW, "Held for risk review")),
        (datetime(2027, 1, 10, 12, 0, tzinfo=timezone.utc),
         {"status": "failed", "fail_reason": "Held for risk review"},
         Outcome(PaymentStatus.FAILED, REVIEW_EXPIRED)),
        (datetime(2027, 1, 9, tzinfo=timezone.utc), {"status": "ready"},
         Outcome(PaymentStatus.FAILED, REVIEW_EXPIRED)),
        # A decision that arrives after the deadline is the decision.
        (datetime(2027, 1, 9, tzinfo=timezone.utc), {}, Outcome(PaymentStatus.PAID)),
        (datetime(2027, 1, 9, tzinfo=timezone.utc), {"status": "failed", "fail_reason": "Declined"},
         Outcome(PaymentStatus.FAILED, "Declined")),
    ],
)
def test_a_hold_for_review_ends_at_its_deadline(held_until, overrides, expected):
    held = order(PaymentStatus.REVIEW, held_until=held_until)
    assert judge(held, record(**overrides), NOW) == expected


def test_the_outcome_is_a_status_member():
    outcome = judge(order(), record())
    assert outcome.status is PaymentStatus.PAID and outcome.status == "paid"


@pytest.mark.parametrize(
    ("current", "outcome", "allowed"),
    [
        ("pending", PaymentStatus.PAID, True),
        ("scheduled", PaymentStatus.PAID, True),
        # Money taken is recorded even after a withdrawn schedule or a failure.
        ("revoked", PaymentStatus.PAID, True),
        ("failed", PaymentStatus.PAID, True),
        ("review", PaymentStatus.FAILED, True),
        ("paid", PaymentStatus.CANCELLED, True),
        ("paid", PaymentStatus.PAID, False),
        ("paid", PaymentStatus.FAILED, False),
        ("cancelled", PaymentStatus.PAID, False),
        ("failed", PaymentStatus.REVIEW, False),
        ("revoked", PaymentStatus.FAILED, False),
        ("pending", PaymentStatus.PENDING, False),
    ],
)
def test_only_the_allowed_transitions_may_move_a_payment(current, outcome, allowed):
    assert may_move(current, Outcome(outcome)) is allowed


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, None),
        ({"amount": 1}, "1 instead of 9.90"),
        ({"amount": "not a number"}, "not a number instead of 9.90"),
        ({"amount": True}, "True instead of 9.90"),
        ({"currency": "KRW"}, "in KRW instead of USD"),
        ({"customer_uid": "cu_other"}, "with another billing key"),
    ],
)
def test_only_a_matching_payment_is_the_orders(overrides, reason):
    assert mismatch_reason(order(), record(**overrides)) == reason


@pytest.mark.parametrize(
    ("mode", "mids", "overrides", "refused"),
    [
        ("test", [], {"sandbox": True, "pg_provider": "kakaopay"}, False),
        ("live", [], {}, False),
        ("live", ["mid1"], {}, False),
        ("live", ["mid0", "mid1"], {}, False),
        ("live", [], {"sandbox": True}, True),
        ("live", [], {"pg_provider": "kakaopay"}, True),
        ("live", ["mid2"], {}, True),
        ("live", ["mid2", "mid3"], {}, True),
    ],
)
def test_a_live_shop_takes_only_real_paymentwall_payments_on_its_projects(mode, mids, overrides, refused):
    assert (refusal_reason(record(**overrides), mode, mids) is not None) is refused


def test_a_payment_recorded_on_its_order_is_never_refused_again():
    # Recorded while the shop took project mid1; the shop has since moved to mid2.
    recorded = order(PaymentStatus.PAID, imp_uid="imp_1")
    refusal = refusal_reason(record(), "live", ["mid2"])
    assert refusal is not None
    assert not_the_orders_reason(recorded, record(), refusal) is None
    assert not_the_orders_reason(recorded, record(status="cancelled"), refusal) is None
    # Another payment on the order is still refused.
    assert not_the_orders_reason(recorded, record(imp_uid="imp_2"), refusal) == refusal


def test_a_second_charge_of_a_settled_order_is_not_the_orders():
    paid = order(PaymentStatus.PAID, imp_uid="imp_1")
    assert not_the_orders_reason(paid, record(), None) is None
    assert not_the_orders_reason(paid, record(imp_uid="imp_2"), None) == (
        "a second charge of an order that was already paid")
    # Before it is settled, a matching payment under another imp_uid may still settle it.
    failed = order(PaymentStatus.FAILED, imp_uid="imp_1")
    assert not_the_orders_reason(failed, record(imp_uid="imp_2"), None) is None
    assert not_the_orders_reason(failed, record(imp_uid="imp_2", status="cancelled"), None) is not None
    assert not_the_orders_reason(order(), record(), "made on a test channel") == "made on a test channel"


def test_amounts_are_read_as_decimals():
    assert to_decimal(9.9) == Decimal("9.9")
    assert to_decimal("12.50") == Decimal("12.50")
    assert to_decimal(None) is None and to_decimal(False) is None and to_decimal("x") is None


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_sandboxs_words_in_either_language_are_read_alike(language):
    from sandbox.texts import text
    held, closed, declined = (text(language, key) for key in ("held", "closed_reason", "review_declined"))
    assert judge(order(), record(status="failed", fail_reason=held)) == Outcome(PaymentStatus.REVIEW, held)
    assert judge(order(), record(status="failed", fail_reason=closed)) == Outcome(PaymentStatus.PENDING)
    assert judge(order(PaymentStatus.REVIEW), record(status="failed", fail_reason=declined)) == Outcome(
        PaymentStatus.FAILED, declined)


@pytest.mark.parametrize(("paid", "reason"), [
    (9900, None), (Decimal("9900"), None), ("9900", None), (9900.0, None),
    (Decimal("9900.5"), "9900.5 instead of 9900"), (9899, "9899 instead of 9900"),
])
def test_a_won_order_matches_only_its_exact_amount(paid, reason):
    won = Payment(merchant_uid="sub_2", amount=Decimal("9900"), currency="KRW", customer_uid="cu_1_abc",
                  status=PaymentStatus.PENDING)
    assert mismatch_reason(won, record(merchant_uid="sub_2", amount=paid, currency="KRW")) == reason
