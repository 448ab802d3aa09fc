"""A plan's new list price (PlanPriceChange) and each subscriber's answer to it (PriceConsent)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.extensions import db
from storefront.models.columns import Money, UTCDateTime, shop_now
from storefront.models.subscriptions import Plan, Subscription

_PENDING = "withdrawn_at IS NULL AND applied_at IS NULL"


class PlanPriceChange(db.Model):
    """Staff gave a plan a new price from `effective_at` on (at least 30 days after they did).

    New shoppers pay it from that moment (the periodic job writes it on the plan then: applied_at);
    a subscriber's own price changes at their first renewal on or after it, an increase only with
    their consent (see billing/price_changes.py). At most one pending change per plan."""

    __tablename__ = "plan_price_changes"
    __table_args__ = (
        sa.CheckConstraint("new_price > 0", name="new_price_positive"),
        sa.Index("uq_plan_price_changes_pending", "plan_id", unique=True,
                 sqlite_where=sa.text(_PENDING), postgresql_where=sa.text(_PENDING)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plans.id"), index=True)
    old_price: Mapped[Decimal] = mapped_column(Money)
    new_price: Mapped[Decimal] = mapped_column(Money)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now)
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"))
    created_by_email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    # When the plan's list price became new_price (the effective date came), or it was withdrawn.
    applied_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    plan: Mapped[Plan] = relationship()

    @property
    def increase(self) -> bool:
        return self.new_price > self.old_price


class PriceConsent(db.Model):
    """One subscriber and one price change: when they were told (asked, for an increase), reminded,
    and agreed, with the version of the text they were shown and the one they agreed to."""

    __tablename__ = "price_consents"
    __table_args__ = (sa.UniqueConstraint("subscription_id", "change_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(sa.ForeignKey("subscriptions.id"), index=True)
    change_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_price_changes.id"))
    # The renewal (the paid-until date) from which the new price applies.
    renewal_at: Mapped[datetime] = mapped_column(UTCDateTime)
    old_price: Mapped[Decimal] = mapped_column(Money)
    new_price: Mapped[Decimal] = mapped_column(Money)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now)
    asked_text: Mapped[str] = mapped_column(sa.String(40))
    reminded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    agreed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    agreed_text: Mapped[Optional[str]] = mapped_column(sa.String(40))
    # True when asking set the subscription to end at the period's end (undone by agreeing).
    set_to_end: Mapped[bool] = mapped_column(default=False)

    subscription: Mapped[Subscription] = relationship()
    change: Mapped[PlanPriceChange] = relationship()
