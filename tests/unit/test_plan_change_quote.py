"""What a plan change charges now and when it applies (billing/plan_change.quote), with the expected amounts worked out here from the dates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal

from storefront.billing.plan_change import quote
from storefront.models import ChangeWhen, Plan, Subscription

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)


def plan(price: str, interval: str = "month", currency: str = "USD") -> Plan:
    return Plan(slug=f"p{price}{interval}", name="P", price=Decimal(price), currency=currency,
                interval=interval)


def on(current: Plan, start: datetime, end: datetime, price: str | None = None) -> Subscription:
    return Subscription(plan=current, price=Decimal(price or current.price), status="active",
                        current_period_start=start, current_period_end=end)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def test_an_upgrade_counts_the_periods_paid_in_advance(app):
    # Paid from 20 November to 20 January (one month more by "Charge now"), 7 December now.
    start = datetime(2026, 11, 20, 3, tzinfo=timezone.utc)
    end = datetime(2027, 1, 20, 3, tzinfo=timezone.utc)
    with app.app_context():
        shown = quote(on(plan("9.00"), start, end), plan("19.00"), NOW)
    left = Decimal((end - NOW).total_seconds())
    # Two months paid: one period is half the time paid for.
    expected = cents(Decimal(10) * left / (Decimal((end - start).total_seconds()) / 2))
    assert (shown.takes_effect, shown.amount, shown.next_renewal_at) == (ChangeWhen.NOW, expected, end)
    assert expected > Decimal("10.00")  # more than one period's difference: both months are upgraded


def test_an_upgrade_at_the_same_price_changes_now_and_charges_nothing(app):
    start, end = NOW - timedelta(days=10), NOW + timedelta(days=20)
    with app.app_context():
        shown = quote(on(plan("9.00"), start, end), plan("9.00"), NOW)
    assert (shown.takes_effect, shown.amount) == (ChangeWhen.NOW, Decimal("0.00"))


def test_a_lower_price_or_a_shorter_interval_waits_for_the_period_end(app):
    start, end = NOW - timedelta(days=100), NOW + timedelta(days=265)
    with app.app_context():
        cheaper = quote(on(plan("19.00"), NOW - timedelta(days=10), NOW + timedelta(days=20)),
                        plan("9.00"), NOW)
        shorter = quote(on(plan("90.00", "year"), start, end), plan("19.00"), NOW)
    assert (cheaper.takes_effect, cheaper.amount, cheaper.new_price) == (
        ChangeWhen.PERIOD_END, Decimal(0), Decimal("9.00"))
    assert (shorter.takes_effect, shorter.amount, shorter.applies_from) == (ChangeWhen.PERIOD_END, Decimal(0), end)


def test_to_a_yearly_plan_the_unused_value_is_taken_off_and_a_won_is_the_smallest_unit(app):
    start, end = NOW - timedelta(days=13), NOW + timedelta(days=17)
    with app.app_context():
        shown = quote(on(plan("9900", currency="KRW"), start, end), plan("99000", "year", "KRW"), NOW)
    unused = Decimal(9900) * Decimal((end - NOW).total_seconds()) / Decimal((end - start).total_seconds())
    expected = (Decimal(99000) - unused).quantize(Decimal(1), rounding=ROUND_DOWN)
    assert expected == Decimal(93390)  # 99,000 − 5,610
    assert (shown.takes_effect, shown.amount, shown.applies_from) == (ChangeWhen.NOW, expected, NOW)
    assert shown.next_renewal_at.year == 2027
