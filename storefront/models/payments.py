"""A charge as verified (Payment), and what we owe iamport after one: Refund, RetiredKey."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.extensions import db
from storefront.models.columns import Money, UTCDateTime, enum_column, shop_now, sql_values
from storefront.models.statuses import PaymentKind, PaymentStatus, RefundStatus
from storefront.models.subscriptions import Subscription
from storefront.models.users import User


class Payment(db.Model):
    """One charge as we know it after verification; `merchant_uid` is ours, `imp_uid` iamport's."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({sql_values(PaymentStatus)})", name="status"),
        sa.CheckConstraint(f"kind IN ({sql_values(PaymentKind)})", name="kind"),
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
    # What iamport's record shows given back of it by our refunds (see billing.refunds): a
    # payment partly given back stays paid for its period; given back in full it is cancelled.
    refunded_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    status: Mapped[PaymentStatus] = mapped_column(enum_column(PaymentStatus, 20),
                                                  default=PaymentStatus.PENDING)
    kind: Mapped[PaymentKind] = mapped_column(enum_column(PaymentKind, 10), default=PaymentKind.FIRST)
    # The billing key this charge issues (first payment) or uses (repeat, renewal).
    customer_uid: Mapped[Optional[str]] = mapped_column(sa.String(80), index=True)
    fail_reason: Mapped[Optional[str]] = mapped_column(sa.String(255))
    # The buyer a window's order (first payment, new card) was opened with: PAYMENTWALL wants
    # every later charge of the key it issues to carry this e-mail, whatever the account's is then.
    buyer_email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    buyer_name: Mapped[Optional[str]] = mapped_column(sa.String(121))
    prepared_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # When iamport is to run a scheduled renewal.
    scheduled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Until when a payment held for review (PAYMENTWALL's risk review) is waited for; after it
    # the attempt counts as declined (REVIEW_DEADLINE), so no hold lasts for ever.
    held_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now, onupdate=shop_now)
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
    def partly_refunded(self) -> bool:
        """Paid, and some but not all of it given back."""
        return self.status == PaymentStatus.PAID and 0 < (self.refunded_amount or 0) < self.amount

    @property
    def is_settled(self) -> bool:
        """True once the outcome can no longer change by itself."""
        return self.status in {PaymentStatus.PAID, PaymentStatus.CANCELLED}


def full_refund_key(imp_uid: str) -> str:
    """The key of the refund in full the shop owes by itself of iamport's payment: one per
    imp_uid (staff's refunds have keys of their own)."""
    return f"full:{imp_uid}"


def _default_refund_key(context: Any) -> str:
    """A refund's key when none is given: that of the refund in full of its imp_uid."""
    return full_refund_key(context.get_current_parameters()["imp_uid"])


class Refund(db.Model):
    """One request to give back money iamport took, in full or `amount` of it: a payment that
    is not our order's (another amount, another card, a test channel, a second charge of a paid
    order), one of ours that nothing can use (both in full, one row per `imp_uid`), or part or
    all of a payment staff refund. Written as owed before iamport is asked; asked once
    `requested_at` is set; done only when iamport's record of the payment shows it returned."""

    __tablename__ = "refunds"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({sql_values(RefundStatus)})", name="status"),
        # One cancel of iamport's record settles one request: a cancellation told twice (a
        # webhook again, a later lookup) is never counted twice. NULLs (not done) never collide.
        sa.UniqueConstraint("imp_uid", "cancellation_id", name="uq_refunds_cancellation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The request's own key: the same request is never written twice. A refund in full owed by
    # the shop itself is keyed by its imp_uid (see full_refund_key), so it is
    # never owed twice; staff's by the form's one-time token or a random one.
    request_key: Mapped[str] = mapped_column(sa.String(80), unique=True, default=_default_refund_key)
    imp_uid: Mapped[str] = mapped_column(sa.String(64), index=True)
    merchant_uid: Mapped[str] = mapped_column(sa.String(40), index=True)
    # Our payment when the money is one of our own payments; None for another's payment.
    payment_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus, 10),
                                                 default=RefundStatus.OWED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[Optional[str]] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now)
    # When iamport was asked (it accepted the cancel, or may have): PAYMENTWALL returns the
    # money later, so it is never asked again.
    requested_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    refunded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # The entry of iamport's cancel_history that showed it done (its cancellation_id).
    cancellation_id: Mapped[Optional[str]] = mapped_column(sa.String(80))

    @property
    def stage(self) -> str:
        """owed (not asked yet), asked (awaiting iamport's record) or done."""
        if self.status == RefundStatus.DONE:
            return "done"
        return "asked" if self.requested_at is not None else "owed"

    @property
    def in_full(self) -> bool:
        """A refund in full the shop owes by itself: iamport is asked for whatever is left."""
        return self.request_key == full_refund_key(self.imp_uid)


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now)
    deleted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
