"""The StrEnums columns hold: intervals, subscription statuses and why one ended, MRR ledger kinds, payment and refund statuses, payment kinds."""

from __future__ import annotations

import enum


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


class EndedReason(enum.StrEnum):
    """Why a subscription ended: the shopper cancelled it, or its renewal stayed unpaid after
    the last retry (which the account page must not word as the shopper's choice)."""

    CANCELLED = "cancelled"
    PAYMENT_FAILED = "payment_failed"
    # Withdrawn within the withdrawal period (청약철회): ended at once, every payment refunded.
    WITHDRAWN = "withdrawn"
    # The subscriber did not agree to a price increase before the renewal it applied at.
    PRICE_NOT_AGREED = "price_not_agreed"


class MrrKind(enum.StrEnum):
    """What a row of the MRR ledger records: a subscription going live, ending, or its monthly
    amount changing while it stays live."""

    START = "start"
    END = "end"
    CHANGE = "change"


class PaymentStatus(enum.StrEnum):
    """Our verified view of one charge."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    # A renewal whose schedule iamport must drop (written with the change that decides it);
    # revoked once iamport's answer shows the schedule gone, or settled by its payment if it ran.
    WITHDRAWING = "withdrawing"
    REVOKED = "revoked"
    PAID = "paid"
    FAILED = "failed"
    REVIEW = "review"
    CANCELLED = "cancelled"


class PaymentKind(enum.StrEnum):
    """Why a charge was made."""

    FIRST = "first"
    REPEAT = "repeat"
    RENEWAL = "renewal"
    # A payment in the window with a new card: PAYMENTWALL issues a key only with a charge, so
    # it pays the next period as "charge now" does, and its key then replaces the old one.
    CARD_CHANGE = "new_card"
    # The prorated charge of an upgrade (see billing/plan_change.py): paid, it changes the plan.
    PLAN_CHANGE = "change"


class RefundStatus(enum.StrEnum):
    """Whether money we must give back has been given back."""

    OWED = "owed"
    DONE = "done"
