"""Mail to send: one OutboxMessage per cause, written with the change that causes it."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storefront.extensions import db
from storefront.models.columns import UTCDateTime, utcnow


class OutboxMessage(db.Model):
    """A rendered message and its delivery. `message_id` is both the mail's Message-ID header
    and the cause's unique key (a payment's receipt has one, however often the payment is
    recorded), so a cause can never queue a second message.

    Delivery times are the system clock's: they measure real SMTP attempts, not the shop's
    (demo) time."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    # Whose message it is, so that erasing an account can find its mail (no foreign key: the
    # row outlives the account, with the address erased).
    user_id: Mapped[Optional[int]] = mapped_column(index=True)
    # The subscription a billing notice is about, for its timeline (proof the notice went out).
    subscription_id: Mapped[Optional[int]] = mapped_column(index=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    language: Mapped[str] = mapped_column(sa.String(8))
    subject: Mapped[str] = mapped_column(sa.String(255))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Not before this time: the first attempt, the next after a failure (backoff), or the end
    # of a sender's claim (a host that died mid-send leaves the row to be tried again then).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[Optional[str]] = mapped_column(sa.String(500))
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Not sent after this moment of the shop's clock (storefront.clock): a renewal notice is no
    # notice once its renewal has run. An unsent message past it is dropped, and reported.
    expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Set instead of sent_at when the message no longer applies (a renewal notice whose renewal
    # has already run, an account erased before its mail went out).
    dropped_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    @property
    def is_open(self) -> bool:
        """Still to be sent."""
        return self.sent_at is None and self.dropped_at is None

    @property
    def status(self) -> str:
        """sent, dropped, failed (tried and not sent yet) or queued."""
        if self.sent_at is not None:
            return "sent"
        if self.dropped_at is not None:
            return "dropped"
        return "failed" if self.last_error else "queued"
