"""The back office's audit log: who did what, on which record, why, and what came of it."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storefront.extensions import db
from storefront.models.columns import UTCDateTime, shop_now


class AuditEntry(db.Model):
    """One action of staff (or one staff log-in), written in the transaction of the change it
    records; never edited from the back office."""

    __tablename__ = "audit_log"
    # The page lists newest first, filtered by action.
    __table_args__ = (sa.Index("ix_audit_log_action_occurred_at", "action", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now, index=True)
    # None: a failed log-in names no account we could trust.
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Copied: the entry still says who it was after the account is erased.
    actor_email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    # "verify", "resend_schedule", "staff_login", "refund", ... (see admin/audit_log.py).
    action: Mapped[str] = mapped_column(sa.String(40))
    target_type: Mapped[Optional[str]] = mapped_column(sa.String(40))
    target_id: Mapped[Optional[int]]
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    # A short word ("ok", "changed", "refused", "started" ...) and what it means in this case.
    outcome: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[Optional[str]] = mapped_column(sa.Text)
    remote_addr: Mapped[Optional[str]] = mapped_column(sa.String(64))
    # The one-time token of the confirmation form that led to the action: its unique index makes
    # a second submission of the same form fail to record, and so fail to act.
    token: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True)
