"""A shopper's change of plan (PlanChange): the offer a confirmation page fixed, and what became of it."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.extensions import db
from storefront.models.columns import Money, UTCDateTime, enum_column, shop_now, sql_values
from storefront.models.payments import Payment
from storefront.models.subscriptions import Plan, Subscription


class ChangeWhen(enum.StrEnum):
    """When a change of plan takes effect: now (an upgrade, charged pro rata) or at the
    period's end (a downgrade, charged nothing now)."""

    NOW = "now"
    PERIOD_END = "period_end"


class ChangeStatus(enum.StrEnum):
    """Where a change of plan is."""

    OFFERED = "offered"  # shown on a confirmation page, bound to its one-time token
    CHARGING = "charging"  # confirmed: its charge is on its way (or held for review)
    WAITING = "waiting"  # a downgrade confirmed, waiting for the period's end
    APPLIED = "applied"
    FAILED = "failed"  # its charge was declined, or refunded as too late
    CANCELLED = "cancelled"  # a waiting downgrade called off, or replaced by another change


class PlanChange(db.Model):
    """One change of a subscription's plan: the amount charged now and the new recurring
    price, fixed when the confirmation page was shown and bound to that page's token."""

    __tablename__ = "plan_changes"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({sql_values(ChangeStatus)})", name="status"),
        sa.CheckConstraint(f"takes_effect IN ({sql_values(ChangeWhen)})", name="takes_effect"),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        # One change charged at a time per subscription: two pages confirmed at once never
        # both reach the card.
        sa.Index("uq_plan_changes_charging_per_subscription", "subscription_id", unique=True,
                 sqlite_where=sa.text("status = 'charging'"),
                 postgresql_where=sa.text("status = 'charging'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(sa.ForeignKey("subscriptions.id"), index=True)
    # The confirmation page's one-time token: it confirms this change once.
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    from_plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plans.id"))
    to_plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plans.id"))
    # What the subscriber paid each interval when it was offered, and pays after it.
    old_price: Mapped[Decimal] = mapped_column(Money)
    new_price: Mapped[Decimal] = mapped_column(Money)
    # Charged now (0 for a downgrade, or an upgrade whose proration rounds to nothing).
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    takes_effect: Mapped[ChangeWhen] = mapped_column(enum_column(ChangeWhen, 10))
    status: Mapped[ChangeStatus] = mapped_column(enum_column(ChangeStatus, 10),
                                                 default=ChangeStatus.OFFERED)
    # The paid-until date the amount was worked out against: a charge paid once the
    # subscription's period moved on, or after `deadline`, is refunded and changes nothing.
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    # Until when the page may be confirmed (about 10 minutes), then until when its charge
    # may be paid (PAYMENTWALL's review included).
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    payment_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("payments.id"), unique=True)
    # The consent to the new recurring amount: when, and which version of its text.
    consent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    consent_version: Mapped[Optional[str]] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now)
    settled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    subscription: Mapped[Subscription] = relationship()
    from_plan: Mapped[Plan] = relationship(foreign_keys=[from_plan_id])
    to_plan: Mapped[Plan] = relationship(foreign_keys=[to_plan_id])
    payment: Mapped[Optional[Payment]] = relationship()
