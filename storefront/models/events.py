"""What happened to a subscription and why (SubscriptionEvent), and every webhook received (WebhookReceipt)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.extensions import db
from storefront.models.columns import UTCDateTime, enum_column, shop_now, sql_values
from storefront.models.payments import Payment
from storefront.models.subscriptions import Subscription


class EventKind(enum.StrEnum):
    """What happened: a payment attempt and its outcome, a schedule, or a change of state."""

    CONSENT_GIVEN = "consent_given"
    PAYMENT_ATTEMPT = "payment_attempt"  # an order opened, or a charge sent to iamport
    PAYMENT_PAID = "payment_paid"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_HELD = "payment_held"  # PAYMENTWALL's risk review
    PAYMENT_CANCELLED = "payment_cancelled"  # cancelled at iamport (given back)
    REFUND_OWED = "refund_owed"
    REFUND_DONE = "refund_done"
    RENEWAL_SCHEDULED = "renewal_scheduled"
    SCHEDULE_WITHDRAWN = "schedule_withdrawn"
    ACTIVATED = "activated"
    RENEWED = "renewed"  # a paid charge extended the period
    CARD_CHANGED = "card_changed"
    PAST_DUE = "past_due"
    CANCEL_REQUESTED = "cancel_requested"  # at the period's end
    RESUMED = "resumed"
    ENDED = "ended"
    PRICE_CONSENT_ASKED = "price_consent_asked"  # an increase: asked, the end set meanwhile
    PRICE_CONSENT_REMINDED = "price_consent_reminded"
    PRICE_AGREED = "price_agreed"
    PRICE_LOWERED = "price_lowered"
    PLAN_CHANGED = "plan_changed"  # an upgrade paid, or a downgrade reached its renewal
    PLAN_CHANGE_SCHEDULED = "plan_change_scheduled"  # a downgrade waiting for the period's end
    PLAN_CHANGE_CANCELLED = "plan_change_cancelled"  # that downgrade called off


class EventCause(enum.StrEnum):
    """Who or what brought a change about."""

    SHOPPER = "shopper"
    WEBHOOK = "webhook"
    RECONCILE = "reconcile"
    STAFF = "staff"
    CLOCK = "clock"  # a period's end came
    SANDBOX = "sandbox"  # the sandbox was reset
    SYSTEM = "system"  # anything else (a shell, a script)


class SubscriptionEvent(db.Model):
    """One change of a subscription, written in the transaction of the change (see
    storefront.billing.events), so that its timeline is never out of step."""

    __tablename__ = "subscription_events"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN ({sql_values(EventKind)})", name="kind"),
        sa.CheckConstraint(f"cause IN ({sql_values(EventCause)})", name="cause"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(sa.ForeignKey("subscriptions.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, 30))
    cause: Mapped[EventCause] = mapped_column(enum_column(EventCause, 20))
    payment_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("payments.id"))
    # Small: amount, currency, status, reason, merchant_uid, version …
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    # No backrefs: writing an event never touches (nor versions) its subscription.
    subscription: Mapped[Subscription] = relationship()
    payment: Mapped[Optional[Payment]] = relationship()


class WebhookOutcome(enum.StrEnum):
    """What a webhook led to."""

    RECORDED = "recorded"  # verified and recorded on our order (a change or not)
    NOT_OURS = "not_ours"  # a payment iamport has that is not our order's
    UNKNOWN_ORDER = "unknown_order"  # iamport knows no such imp_uid
    REFUSED = "refused"  # from an address outside WEBHOOK_ALLOWED_IPS
    ERROR = "error"  # iamport did not answer (503), or the recording failed
    BAD_REQUEST = "bad_request"  # no usable imp_uid


class WebhookReceipt(db.Model):
    """One webhook received, whatever it led to; kept WEBHOOK_LOG_DAYS (reconcile purges)."""

    __tablename__ = "webhook_log"
    __table_args__ = (
        sa.CheckConstraint(f"outcome IN ({sql_values(WebhookOutcome)})", name="outcome"),
        sa.Index("ix_webhook_log_outcome_received", "outcome", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now, index=True)
    remote_addr: Mapped[Optional[str]] = mapped_column(sa.String(45))
    # The fields as sent (capped: see storefront.webhook_log.BODY_LIMIT).
    body: Mapped[Any] = mapped_column(sa.JSON, default=dict)
    imp_uid: Mapped[Optional[str]] = mapped_column(sa.String(64), index=True)
    merchant_uid: Mapped[Optional[str]] = mapped_column(sa.String(40))
    subscription_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("subscriptions.id"), index=True)
    outcome: Mapped[WebhookOutcome] = mapped_column(enum_column(WebhookOutcome, 20))
    detail: Mapped[Optional[str]] = mapped_column(sa.String(255))
