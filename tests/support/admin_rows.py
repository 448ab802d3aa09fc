"""Rows written straight into the test database for the back office's lists, and a staff log-in."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from flask import Flask

from storefront.extensions import db
from storefront.models import Payment, Plan, Subscription, User
from tests.support.accounts import AuthActions

_serial = itertools.count(1)
BASE = datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)


def log_in_staff(app: Flask, auth: AuthActions, email: str = "staff@example.com") -> None:
    """Register an account, make it staff in the database, and log it in."""
    # Each followed to its page, so that their English welcome is read there, not on a later page.
    auth.register(email=email, first_name="Sam", last_name="Staff", follow_redirects=True)
    with app.app_context():
        user = db.session.execute(db.select(User).where(User.email == email)).scalar_one()
        user.is_staff = True
        db.session.commit()
    # A session opened as a shopper is not a staff session: staff log in afresh.
    auth.logout()
    auth.login(email=email, follow_redirects=True)


def add_plan(app: Flask, slug: str, name: str, price: str = "9.00", currency: str = "USD",
             **extra) -> int:
    """A plan on sale; its id."""
    with app.app_context():
        plan = Plan(slug=slug, name=name, price=Decimal(price), currency=currency, **extra)
        db.session.add(plan)
        db.session.commit()
        return plan.id


def add_subscription(app: Flask, plan_id: int, *, email: str | None = None, first: str = "Test",
                     last: str = "Shopper", status: str = "active", created: datetime | None = None,
                     payments: list[tuple[str, str | None]] = ()) -> int:
    """A user with one subscription to the plan (and payments given as (merchant_uid, imp_uid)); the subscription's id."""
    n = next(_serial)
    with app.app_context():
        user = User(email=email or f"shopper{n}@example.com", first_name=first, last_name=last,
                    password_hash="x")
        db.session.add(user)
        db.session.flush()
        when = created or BASE + timedelta(minutes=n)
        sub = Subscription(user_id=user.id, plan_id=plan_id, status=status, created_at=when,
                           current_period_start=when, current_period_end=when + timedelta(days=30))
        db.session.add(sub)
        db.session.flush()
        for merchant_uid, imp_uid in payments:
            db.session.add(Payment(merchant_uid=merchant_uid, imp_uid=imp_uid, user_id=user.id,
                                   subscription_id=sub.id, amount=Decimal("9.00"), currency="USD",
                                   status="paid", kind="first", created_at=when, paid_at=when))
        db.session.commit()
        return sub.id


def add_payment(app: Flask, subscription_id: int, *, merchant_uid: str | None = None,
                imp_uid: str | None = None, amount: str = "9.00", currency: str = "USD",
                status: str = "paid", kind: str = "renewal", paid_at: datetime | None = None,
                created: datetime | None = None) -> int:
    """A payment of the subscription's user; its id."""
    n = next(_serial)
    with app.app_context():
        sub = db.session.get(Subscription, subscription_id)
        when = created or BASE + timedelta(minutes=n)
        payment = Payment(merchant_uid=merchant_uid or f"order-{n}", imp_uid=imp_uid,
                          user_id=sub.user_id, subscription_id=sub.id, amount=Decimal(amount),
                          currency=currency, status=status, kind=kind, created_at=when,
                          paid_at=paid_at)
        db.session.add(payment)
        db.session.commit()
        return payment.id


def staff_reads_korean(app: Flask, email: str = "staff@example.com") -> None:
    """The staff account's language becomes Korean (the account's language outranks the browser's)."""
    with app.app_context():
        user = db.session.execute(db.select(User).where(User.email == email)).scalar_one()
        user.locale = "ko"
        db.session.commit()
