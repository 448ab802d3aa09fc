"""Database models: User, Plan, Subscription, Payment, and what we owe iamport (Refund, RetiredKey)."""

from __future__ import annotations

import enum
import functools
import secrets
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Optional

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from storefront.extensions import db


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, PostgreSQL gets the same values."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        return None if value is None else value.replace(tzinfo=timezone.utc)


Money = sa.Numeric(12, 2, asdecimal=True)


class Interval(enum.StrEnum):
    """Billing interval of a plan."""

    MONTH = "month"
    YEAR = "year"


class SubscriptionStatus(enum.StrEnum):
    """Where a subscription is in its life."""

    INCOMPLETE = "incomplete"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class PaymentStatus(enum.StrEnum):
    """Our verified view of one charge."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    REVOKED = "revoked"
    PAID = "paid"
    FAILED = "failed"
    REVIEW = "review"
    CANCELLED = "cancelled"
    TAMPERED = "tampered"


class PaymentKind(enum.StrEnum):
    """Why a charge was made."""

    FIRST = "first"
    REPEAT = "repeat"
    RENEWAL = "renewal"


def _values(members: Any) -> str:
    return ", ".join(f"'{member}'" for member in members)


_OPEN_SUBSCRIPTION = _values((SubscriptionStatus.INCOMPLETE, SubscriptionStatus.ACTIVE,
                              SubscriptionStatus.PAST_DUE))


def enum_column(enum_cls: type[enum.StrEnum], length: int) -> sa.Enum:
    """A column of one of these StrEnums, stored as its value in a VARCHAR of `length` (the
    CHECK constraint of each table keeps the values) and read back as the enum's member."""
    return sa.Enum(enum_cls, native_enum=False, create_constraint=False, length=length,
                   values_callable=lambda members: [str(member) for member in members])


# How passwords are hashed; the dummy hash of an unknown address's log-in is made the same way.
PASSWORD_METHOD = "scrypt"


def new_session_token() -> str:
    """A fresh random value for User.session_token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    """A shopper's account; the e-mail is kept lower-case so uniqueness ignores letter case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(60))
    last_name: Mapped[str] = mapped_column(sa.String(60))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    # What the session and the remember cookie name the user by (Flask-Login's alternative id),
    # not the id: a new value ends every session and remember cookie that carries the old one.
    session_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriptions: Mapped[list["Subscription"]] = relationship(back_populates="user")

    @staticmethod
    def normalize_email(email: str) -> str:
        """The form of an e-mail address we store and look up."""
        return email.strip().lower()

    @property
    def full_name(self) -> str:
        """First and last name, as shown on pages."""
        return f"{self.first_name} {self.last_name}"

    @property
    def buyer_name(self) -> str:
        """The name for PAYMENTWALL: "First Last" with exactly one space, so the spaces inside
        a first or last name ("Mary Ann", "van Dyke") become hyphens."""
        return f"{'-'.join(self.first_name.split())} {'-'.join(self.last_name.split())}"

    def set_password(self, password: str) -> None:
        """Hash and keep the password."""
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @staticmethod
    def log_in_check(user: Optional["User"], password: str) -> bool:
        """True when there is a user and the password is theirs. An unknown address costs a
        hash check too, so the time of a log-in tells no one whether the address has an account."""
        if user is None:
            check_password_hash(_dummy_hash(), password)
            return False
        return user.check_password(password)

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session and the remember cookie: the session token."""
        return self.session_token

    def end_all_sessions(self) -> None:
        """Make every session and remember cookie of this user stop working (log-in, log-out,
        and what a password change must call); the caller commits."""
        self.session_token = new_session_token()


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made once, with the method and parameters of real ones."""
    return generate_password_hash(secrets.token_urlsafe(16), method=PASSWORD_METHOD)


class Plan(db.Model):
    """Something a shopper can subscribe to, with its price per interval."""

    __tablename__ = "plans"
    __table_args__ = (
        sa.CheckConstraint(f"interval IN ({_values(Interval)})", name="interval"),
        sa.CheckConstraint("price > 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    features: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    interval: Mapped[Interval] = mapped_column(enum_column(Interval, 5), default=Interval.MONTH)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    @property
    def interval_label(self) -> str:
        """'month' or 'year', for "per …" texts."""
        return str(Interval(self.interval))


class Subscription(db.Model):
    """A user's subscription to a plan, charged through a billing key (`customer_uid`)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_values(SubscriptionStatus)})", name="status"),
        # At most one subscription per user and plan that is being bought or is live.
        sa.Index("uq_subscriptions_open_per_user_plan", "user_id", "plan_id", unique=True,
                 sqlite_where=sa.text(f"status IN ({_OPEN_SUBSCRIPTION})"),
                 postgresql_where=sa.text(f"status IN ({_OPEN_SUBSCRIPTION})")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plans.id"))
    status: Mapped[SubscriptionStatus] = mapped_column(enum_column(SubscriptionStatus, 20),
                                                       default=SubscriptionStatus.INCOMPLETE)
    # The billing key charged for renewals: the one whose first or card-change payment was paid.
    customer_uid: Mapped[Optional[str]] = mapped_column(sa.String(80))
    current_period_start: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    current_period_end: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # When the first period began (the first payment's paid_at): every period ends on this
    # date moved on by whole intervals (see periods.next_period_end), so ends do not drift.
    billing_anchor: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # PAYMENTWALL wants later charges made with the e-mail and name the key was issued with.
    buyer_email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    buyer_name: Mapped[Optional[str]] = mapped_column(sa.String(121))
    # Set once iamport confirms the key (issuance webhook or customer lookup); `again` waits for it.
    billing_key_ready_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Failed renewals in a row, and when the first of them failed (iamport's clock); reset by
    # any paid charge. Retries are scheduled RENEWAL_RETRY_DAYS after that first failure.
    retry_count: Mapped[int] = mapped_column(default=0)
    past_due_since: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # The card of the billing key as iamport described it when the key was confirmed.
    card_name: Mapped[Optional[str]] = mapped_column(sa.String(60))
    card_number: Mapped[Optional[str]] = mapped_column(sa.String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # Checked and raised by every update (optimistic concurrency): where row locks do nothing
    # (SQLite), an update made from a stale read fails instead of undoing another one.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    user: Mapped[User] = relationship(back_populates="subscriptions")
    plan: Mapped[Plan] = relationship()
    payments: Mapped[list["Payment"]] = relationship(back_populates="subscription")

    __mapper_args__ = {"version_id_col": version}


class Payment(db.Model):
    """One charge as we know it after verification; `merchant_uid` is ours, `imp_uid` iamport's."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_values(PaymentStatus)})", name="status"),
        sa.CheckConstraint(f"kind IN ({_values(PaymentKind)})", name="kind"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        # One row per attempt at a period: callers racing to schedule the same attempt collide
        # here instead of scheduling it twice (NULLs, on every other kind, never collide).
        sa.UniqueConstraint("subscription_id", "period_start", "attempt",
                            name="uq_payments_renewal_attempt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_uid: Mapped[str] = mapped_column(sa.String(40), unique=True)
    # Unique when set: NULLs never collide, on SQLite and PostgreSQL alike.
    imp_uid: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    subscription_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("subscriptions.id"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[PaymentStatus] = mapped_column(enum_column(PaymentStatus, 20),
                                                  default=PaymentStatus.PENDING)
    kind: Mapped[PaymentKind] = mapped_column(enum_column(PaymentKind, 10), default=PaymentKind.FIRST)
    # The billing key this charge issues (first payment) or uses (repeat, renewal).
    customer_uid: Mapped[Optional[str]] = mapped_column(sa.String(80), index=True)
    fail_reason: Mapped[Optional[str]] = mapped_column(sa.String(255))
    prepared_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # When iamport is to run a scheduled renewal.
    scheduled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # When iamport took this renewal's schedule. A scheduled renewal without it is still to be
    # sent: the row is the outbox, and reconcile sends what iamport never took.
    schedule_taken_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # The period a renewal pays, named by its start (the paid-until date it extends), and
    # which attempt at that period it is: 0, then one more for each retry or new schedule.
    period_start: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    attempt: Mapped[Optional[int]]
    # The one-time token of the "Charge now" form: a resubmission hits the unique index.
    idempotency_key: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True)
    provider_response: Mapped[Optional[dict[str, Any]]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    paid_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    subscription: Mapped[Optional[Subscription]] = relationship(back_populates="payments")
    user: Mapped[User] = relationship()

    @hybrid_property
    def occurred_at(self) -> datetime:
        """When the charge was paid, else ran (or is due) at iamport, else was opened.

        A renewal's row is written a period before iamport runs it at `scheduled_at`, so its
        `created_at` says nothing about when it was tried."""
        return self.paid_at or self.scheduled_at or self.created_at

    @occurred_at.inplace.expression
    @classmethod
    def _occurred_at_expression(cls) -> sa.ColumnElement[datetime]:
        return sa.func.coalesce(cls.paid_at, cls.scheduled_at, cls.created_at)

    @property
    def is_settled(self) -> bool:
        """True once the outcome can no longer change by itself."""
        return self.status in {PaymentStatus.PAID, PaymentStatus.TAMPERED, PaymentStatus.CANCELLED}


class RefundStatus(enum.StrEnum):
    """Whether money we must give back has been given back."""

    OWED = "owed"
    DONE = "done"


class Refund(db.Model):
    """A payment at iamport we must give back in full: one that is not our order's (another
    amount, another card, a test channel, a second charge of a paid order) or one of ours that
    nothing can use. Recorded as owed before iamport is asked; done only when iamport's record
    of the payment shows the money returned."""

    __tablename__ = "refunds"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_values(RefundStatus)})", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One refund per iamport payment: asking twice can never refund twice.
    imp_uid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    merchant_uid: Mapped[str] = mapped_column(sa.String(40), index=True)
    # Our payment when the money is one of our own payments; None for another's payment.
    payment_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("payments.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus, 10), default=RefundStatus.OWED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[Optional[str]] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When iamport accepted the cancel; PAYMENTWALL returns the money later, so it is not re-sent.
    requested_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    refunded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class RetiredKey(db.Model):
    """A billing key no subscription uses any more, to be deleted at iamport (and retried until
    it is), so that no card stays with the PG after it is given up."""

    __tablename__ = "retired_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_uid: Mapped[str] = mapped_column(sa.String(80), unique=True)
    subscription_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("subscriptions.id"))
    reason: Mapped[str] = mapped_column(sa.String(255))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[Optional[str]] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class LoginThrottle(db.Model):
    """Failed log-ins of one e-mail from one client address (a "pair"), or the accounts that
    failed from one client address within a window (see storefront/throttle.py)."""

    __tablename__ = "login_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A pair's last failed (or last admitted) attempt; its next one waits a delay from here.
    last_failure: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
