"""The MRR ledger: one row per change of a subscription's monthly amount, so that MRR at any moment and a month's movements are sums over it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storefront.extensions import db
from storefront.models.columns import Money, UTCDateTime, enum_column, sql_values
from storefront.models.statuses import MrrKind


class MrrChange(db.Model):
    """A subscription's monthly amount (VAT included) before and after a change: 0 while it is
    not live. Written in the transaction of the change itself (see billing/mrr.py)."""

    __tablename__ = "mrr_changes"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN ({sql_values(MrrKind)})", name="kind"),
        # The dashboard's sums run over "everything before a moment", per currency.
        sa.Index("ix_mrr_changes_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(sa.ForeignKey("subscriptions.id"), index=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_before: Mapped[Decimal] = mapped_column(Money)
    amount_after: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[MrrKind] = mapped_column(enum_column(MrrKind, 10))
    # Only for an end: True when the customer chose it (a cancel, a withdrawal, deleting the
    # account), False when it ended after failed payments (or otherwise not by their choice).
    voluntary: Mapped[Optional[bool]] = mapped_column(sa.Boolean)
