"""Database models: User, Plan, Subscription, Payment."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Optional

import sqlalchemy as sa
from flask_login import UserMixin
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


class Interval(str, enum.Enum):
    """Billing interval of a plan."""

    MONTH = "month"
    YEAR = "year"


class SubscriptionStatus(str, enum.Enum):
    """Where a subscription is in its life."""

    INCOMPLETE = "incomplete"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class PaymentStatus(str, enum.Enum):
    """Our verified view of one charge."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    REVOKED = "revoked"
    PAID = "paid"
    FAILED = "failed"
    REVIEW = "review"
    CANCELLED = "cancelled"
    TAMPERED = "tampered"


class PaymentKind(str, enum.Enum):
    """Why a charge was made."""

    FIRST = "first"
    REPEAT = "repeat"
    RENEWAL = "renewal"


def _values(enum_cls: type[enum.Enum]) -> str:
    return ", ".join(f"'{member.value}'" for member in enum_cls)


class User(UserMixin, db.Model):
    """A shopper's account; the e-mail is kept lower-case so uniqueness ignores letter case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(60))
    last_name: Mapped[str] = mapped_column(sa.String(60))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
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
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)


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
    interval: Mapped[str] = mapped_column(sa.String(5), default=Interval.MONTH.value)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    @property
    def amount_for_sdk(self) -> int | float:
        """The price as a JSON number (the SDK refuses strings)."""
        return int(self.price) if self.price == self.price.to_integral_value() else float(self.price)

    @property
    def interval_label(self) -> str:
        """'month' or 'year', for "per …" texts."""
        return Interval(self.interval).value


class Subscription(db.Model):
    """A user's subscription to a plan, charged through a billing key (`customer_uid`)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_values(SubscriptionStatus)})", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plans.id"))
    status: Mapped[str] = mapped_column(sa.String(20), default=SubscriptionStatus.INCOMPLETE.value)
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

    user: Mapped[User] = relationship(back_populates="subscriptions")
    plan: Mapped[Plan] = relationship()
    payments: Mapped[list["Payment"]] = relationship(back_populates="subscription")


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
    status: Mapped[str] = mapped_column(sa.String(20), default=PaymentStatus.PENDING.value)
    kind: Mapped[str] = mapped_column(sa.String(10), default=PaymentKind.FIRST.value)
    # The billing key this charge issues (first payment) or uses (repeat, renewal).
    customer_uid: Mapped[Optional[str]] = mapped_column(sa.String(80), index=True)
    fail_reason: Mapped[Optional[str]] = mapped_column(sa.String(255))
    prepared_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # When iamport is to run a scheduled renewal.
    scheduled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
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

    @property
    def is_settled(self) -> bool:
        """True once the outcome can no longer change by itself."""
        return self.status in {PaymentStatus.PAID.value, PaymentStatus.TAMPERED.value,
                               PaymentStatus.CANCELLED.value}


class LoginThrottle(db.Model):
    """Failed log-ins counted per e-mail address or client address within a window."""

    __tablename__ = "login_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
