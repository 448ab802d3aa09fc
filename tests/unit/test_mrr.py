"""MRR: the subscription's monthly snapshot, its ledger written by billing, and the dashboard's figures (expected values worked out by hand)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from storefront.admin import metrics
from storefront.extensions import db
from storefront.models import MrrChange, WebhookReceipt
from tests.support.subscriptions_at import cancel_now, customer, end_unpaid, plan, subscribe


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


# December 2026 in the shop's zone (Asia/Seoul) began at 2026-11-30 15:00 UTC.
NOW = utc(2026, 12, 20, 3)


def ledger(sub_id: int) -> list[tuple]:
    return [(row.kind, row.amount_before, row.amount_after, row.voluntary, row.currency)
            for row in db.session.execute(db.select(MrrChange).where(MrrChange.subscription_id == sub_id)
                                          .order_by(MrrChange.id)).scalars()]


def test_activation_snapshots_the_monthly_amount_and_writes_a_start(app):
    with app.app_context():
        monthly = plan("m", "9.00")
        yearly = plan("y", "90.00", interval="year")
        won_yearly = plan("wy", "99000", currency="KRW", interval="year")
        ada = customer("ada")
        a = subscribe(ada, monthly, utc(2026, 12, 2))
        b = subscribe(ada, yearly, utc(2026, 12, 2))
        c = subscribe(customer("grace"), won_yearly, utc(2026, 12, 2))
        assert a.mrr_amount == Decimal("9.00")
        assert b.mrr_amount == Decimal("7.50")  # 90 / 12
        assert c.mrr_amount == Decimal("8250")  # 99,000 / 12
        assert ledger(a.id) == [("start", Decimal("0"), Decimal("9.00"), None, "USD")]
        assert ledger(c.id) == [("start", Decimal("0"), Decimal("8250"), None, "KRW")]
        assert metrics.mrr_by_currency() == {"USD": Decimal("16.50"), "KRW": Decimal("8250")}


def test_a_yearly_price_that_does_not_divide_is_rounded_half_up_to_the_minor_unit(app):
    with app.app_context():
        odd = plan("odd", "100.00", interval="year")  # 8.333… a month
        won = plan("won", "100006", currency="KRW", interval="year")  # 8,333.83… won
        sub = subscribe(customer("ada"), odd, utc(2026, 12, 2))
        other = subscribe(customer("bob"), won, utc(2026, 12, 2))
        assert sub.mrr_amount == Decimal("8.33")
        assert other.mrr_amount == Decimal("8334")


def test_ends_are_written_voluntary_or_not_and_leave_mrr(app, monkeypatch):
    with app.app_context():
        monthly = plan("m", "9.00")
        quits = subscribe(customer("ada"), monthly, utc(2026, 11, 2))
        declined = subscribe(customer("bob"), monthly, utc(2026, 11, 2))
        cancel_now(monkeypatch, quits, utc(2026, 12, 5))
        end_unpaid(declined, utc(2026, 12, 6))
        assert ledger(quits.id)[1:] == [("end", Decimal("9.00"), Decimal("0"), True, "USD")]
        assert ledger(declined.id)[1:] == [("end", Decimal("9.00"), Decimal("0"), False, "USD")]
        assert metrics.mrr_by_currency() == {}
        assert metrics.live_counts() == {"active": 0, "past_due": 0}


def test_past_due_still_counts(app):
    with app.app_context():
        sub = subscribe(customer("ada"), plan("m", "9.00"), utc(2026, 11, 2))
        subscribe(customer("bob"), plan("n", "5.00"), utc(2026, 11, 2))
        sub.status = "past_due"
        db.session.commit()
        assert metrics.live_counts() == {"active": 1, "past_due": 1}
        assert metrics.mrr_by_currency() == {"USD": Decimal("14.00")}


def test_the_month_end_of_a_cancel_at_period_end_is_voluntary(app):
    from storefront.billing import lifecycle

    with app.app_context():
        sub = subscribe(customer("ada"), plan("m", "9.00"), utc(2026, 11, 2))
        sub.cancel_at_period_end = True
        db.session.commit()
        assert lifecycle.end_finished_periods(utc(2026, 12, 3)) == 1
        assert ledger(sub.id)[1:] == [("end", Decimal("9.00"), Decimal("0"), True, "USD")]


@pytest.fixture
def december(app, monkeypatch):
    """Customers whose MRR moved in December 2026 (see each line), in USD and KRW."""
    with app.app_context():
        basic = plan("basic", "9.00")
        premium = plan("premium", "19.00")
        yearly = plan("yearly", "90.00", interval="year")
        won = plan("won", "9900", currency="KRW")
        subscribe(customer("steady"), basic, utc(2026, 10, 1))                 # 9 → 9
        subscribe(customer("newcomer"), basic, utc(2026, 11, 30, 16))          # Dec 1, 01:00 KST: new 9
        cancel_now(monkeypatch, subscribe(customer("quitter"), premium, utc(2026, 11, 3)),
                   utc(2026, 12, 10))                                          # churn 19, voluntary
        end_unpaid(subscribe(customer("declined"), yearly, utc(2026, 9, 3)),
                   utc(2026, 12, 12))                                          # churn 7.50, involuntary
        back = customer("back")
        cancel_now(monkeypatch, subscribe(back, basic, utc(2026, 8, 1)), utc(2026, 9, 15))
        subscribe(back, basic, utc(2026, 12, 3))                               # reactivation 9
        cancel_now(monkeypatch, subscribe(customer("tryer"), basic, utc(2026, 12, 2)),
                   utc(2026, 12, 8))                                           # 0 → 0: in neither
        grows = customer("grows")
        subscribe(grows, basic, utc(2026, 10, 5))
        subscribe(grows, premium, utc(2026, 12, 4))                            # expansion 19
        shrinks = customer("shrinks")
        subscribe(shrinks, basic, utc(2026, 10, 5))
        cancel_now(monkeypatch, subscribe(shrinks, premium, utc(2026, 10, 5)),
                   utc(2026, 12, 6))                                           # contraction 19
        subscribe(customer("minsu"), won, utc(2026, 12, 1))                    # new ₩9,900
        subscribe(customer("later"), basic, utc(2027, 1, 2))                   # after now: not counted


def test_this_months_movements_per_currency(app, december):
    with app.app_context():
        usd = metrics.movements(NOW)["USD"]
        # Start: steady 9 + quitter 19 + declined 7.50 + grows 9 + shrinks 28.
        assert usd.start == Decimal("72.50")
        assert usd.new == Decimal("9.00") and usd.new_count == 1
        assert usd.reactivation == Decimal("9.00") and usd.reactivation_count == 1
        assert usd.expansion == Decimal("19.00") and usd.expansion_count == 1
        assert usd.contraction == Decimal("19.00") and usd.contraction_count == 1
        assert usd.churn_voluntary == Decimal("19.00") and usd.churn_voluntary_count == 1
        assert usd.churn_involuntary == Decimal("7.50") and usd.churn_involuntary_count == 1
        # End: steady 9 + newcomer 9 + back 9 + grows 28 + shrinks 9.
        assert usd.end == Decimal("64.00")
        assert usd.end == (usd.start + usd.new + usd.expansion + usd.reactivation
                           - usd.contraction - usd.churn_voluntary - usd.churn_involuntary)
        krw = metrics.movements(NOW)["KRW"]
        assert (krw.start, krw.new, krw.end) == (Decimal("0"), Decimal("9900"), Decimal("9900"))


def test_the_end_of_the_movements_is_the_mrr_now(app, december):
    with app.app_context():
        # "later" is live too (its start lies ahead of NOW), so the MRR now has its 9 more.
        assert metrics.mrr_by_currency() == {"USD": Decimal("73.00"), "KRW": Decimal("9900")}


def test_twelve_months_of_mrr_and_live_subscriptions(app, december):
    with app.app_context():
        history = metrics.history(NOW)
        assert [month.strftime("%Y-%m") for month in history.months] == [
            "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07",
            "2026-08", "2026-09", "2026-10", "2026-11", "2026-12"]
        usd = history.mrr["USD"]
        assert usd[:7] == [Decimal("0")] * 7
        assert usd[7] == Decimal("9.00")      # August: back
        assert usd[8] == Decimal("7.50")      # September: back left, declined came
        assert usd[9] == Decimal("53.50")     # October: 7.50 + steady 9, grows 9, shrinks 28
        assert usd[10] == Decimal("72.50")    # November: + quitter 19 (newcomer is December's)
        assert usd[11] == Decimal("64.00")    # December so far
        assert history.mrr["KRW"][11] == Decimal("9900")
        assert history.live == [0, 0, 0, 0, 0, 0, 0, 1, 1, 5, 6, 7]


def test_failed_renewals_and_refunds_owed_this_month(app, december):
    from storefront.models import Refund

    with app.app_context():
        # The declined renewal of "declined" failed on 12 December.
        assert metrics.failed_renewals(NOW) == 1
        db.session.add_all([
            Refund(imp_uid="imp_r1", merchant_uid="sub_at_1", amount=Decimal("9.00"), currency="USD",
                   reason="test", status="owed"),
            Refund(imp_uid="imp_r2", merchant_uid="sub_at_2", amount=Decimal("19.00"), currency="USD",
                   reason="test", status="owed"),
            Refund(imp_uid="imp_r3", merchant_uid="sub_at_3", amount=Decimal("5.00"), currency="USD",
                   reason="test", status="done"),
        ])
        db.session.commit()
        owed = metrics.refunds_owed()
        assert owed == {"USD": (2, Decimal("28.00"))}

def test_failed_webhooks_count_this_months_errors_only(app):
    with app.app_context():
        this_month = NOW - timedelta(hours=1)
        db.session.add_all([
            WebhookReceipt(received_at=this_month, remote_addr="127.0.0.1", body={}, outcome="error"),
            WebhookReceipt(received_at=this_month, remote_addr="127.0.0.1", body={}, outcome="error"),
            WebhookReceipt(received_at=this_month, remote_addr="127.0.0.1", body={}, outcome="recorded"),
            WebhookReceipt(received_at=NOW - timedelta(days=40), remote_addr="127.0.0.1", body={},
                           outcome="error"),
        ])
        db.session.commit()
        assert metrics.failed_webhooks(NOW) == 2


def test_no_subscription_gives_empty_figures(app):
    with app.app_context():
        assert metrics.movements(NOW) == {}
        assert metrics.mrr_by_currency() == {}
        history = metrics.history(NOW)
        assert history.mrr == {} and history.live == [0] * 12


def test_deleting_the_account_ends_its_subscriptions_voluntarily(app, monkeypatch):
    from storefront import billing

    with app.app_context():
        ada = customer("ada")
        sub = subscribe(ada, plan("m", "9.00"), utc(2026, 11, 2))
        with monkeypatch.context() as patch:
            patch.setattr("storefront.clock.now", lambda: utc(2026, 12, 9))
            assert billing.end_all_now(ada) == [sub.id]
        assert ledger(sub.id)[1:] == [("end", Decimal("9.00"), Decimal("0"), True, "USD")]
        assert metrics.movements(NOW)["USD"].churn_voluntary == Decimal("9.00")


def test_a_sandbox_reset_ends_them_not_by_the_customers_choice(app, monkeypatch):
    from storefront.billing import sandbox_reset

    with app.app_context():
        sub = subscribe(customer("ada"), plan("m", "9.00"), utc(2026, 11, 2))
        with monkeypatch.context() as patch:
            patch.setattr("storefront.clock.now", lambda: utc(2026, 12, 9))
            assert sandbox_reset.end_forgotten(sub.id) is True
        assert ledger(sub.id)[1:] == [("end", Decimal("9.00"), Decimal("0"), False, "USD")]


def test_amounts_that_floats_cannot_hold_still_add_up_to_nothing(app, monkeypatch):
    """SQLite sums NUMERIC as floats: 8.33 + 8.34 − 8.33 − 8.34 is not 0 there, and a customer
    who left must not count as a contraction of 0.000000000000002."""
    with app.app_context():
        ada = customer("ada")
        first = subscribe(ada, plan("a", "8.33"), utc(2026, 11, 2))
        second = subscribe(ada, plan("b", "8.34"), utc(2026, 11, 2))
        cancel_now(monkeypatch, first, utc(2026, 12, 5))
        cancel_now(monkeypatch, second, utc(2026, 12, 6))
        usd = metrics.movements(NOW)["USD"]
        assert (usd.churn_voluntary, usd.churn_voluntary_count) == (Decimal("16.67"), 1)
        assert (usd.contraction, usd.contraction_count) == (Decimal("0"), 0)
        assert usd.end == Decimal("0")
