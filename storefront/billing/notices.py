"""The mail each billing event owes the customer, queued in the transaction of the event."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from storefront import clock
from storefront.extensions import db
from storefront.mail import language_of, message_id, queue_mail
from storefront.models import (
    EndedReason, OutboxMessage, Payment, PaymentKind, PaymentStatus, Refund, Subscription,
    SubscriptionStatus, utcnow,
)

log = logging.getLogger(__name__)

# The cause of a renewal notice: this, the subscription's id, and the period it renews.
RENEWAL_CAUSE = "renewal-"


def _queue(kind: str, cause: str, subscription: Subscription, expires_at: datetime | None = None,
           **context: Any) -> Any:
    """Queue `kind` for the subscriber, in their language, naming the subscription and plan;
    nothing for an erased account (its address is no one's)."""
    user = subscription.user
    if user.erased_at is not None:
        return None
    return queue_mail(kind, cause, to=user.email, language=language_of(user), user_id=user.id,
                      expires_at=expires_at, subscription_id=subscription.id, user=user, subscription=subscription,
                      plan=subscription.plan, **context)


def card_of(info: dict[str, Any]) -> dict[str, str | None]:
    """The card a payment was made with, as iamport describes it: its name and last four digits."""
    digits = "".join(ch for ch in str(info.get("card_number") or "") if ch.isdigit())
    return {"name": info.get("card_name") or None, "last_four": digits[-4:] if len(digits) >= 4 else None}


def contract_confirmed(subscription: Subscription, payment: Payment) -> None:
    """The written confirmation of the contract (전자상거래법 §13②), once per subscription."""
    _queue("contract", f"subscription-{subscription.id}", subscription, payment=payment)


def receipt(payment: Payment, subscription: Subscription, info: dict[str, Any],
            period_start: datetime | None, period_end: datetime | None) -> None:
    """A paid charge's receipt: one per payment, however often the payment is recorded."""
    _queue("receipt", f"payment-{payment.id}", subscription, payment=payment, card=card_of(info),
           receipt_url=info.get("receipt_url") or None, period_start=period_start,
           period_end=period_end)


def card_changed(subscription: Subscription, payment: Payment, info: dict[str, Any]) -> None:
    """The new card now on file."""
    _queue("card_changed", f"card-{payment.id}", subscription, payment=payment, card=card_of(info))


def payment_failed(subscription: Subscription, payment: Payment, next_try: datetime | None) -> None:
    """A renewal declined: what failed, when it is tried again (if it is), a link to use another
    card."""
    last_try = subscription.retry_count == len(current_app.config["RENEWAL_RETRY_DAYS"])
    _queue("payment_failed", f"failed-{payment.id}", subscription, payment=payment,
           next_try=next_try, last_try=last_try)


def ended_unpaid(subscription: Subscription, paid_until: datetime | None) -> None:
    """The last retry failed: the subscription ended."""
    _queue("ended_unpaid", f"ended-{subscription.id}", subscription, paid_until=paid_until)


def cancelled(subscription: Subscription, at_period_end: bool) -> None:
    """The shopper's cancel: access until the period's end, or ended now (a withdrawal says so).
    One per cancel (a resumed and again cancelled subscription is mailed again)."""
    _queue("cancelled", f"cancel-{subscription.id}-{clock.now():%Y%m%d%H%M%S%f}", subscription,
           at_period_end=at_period_end,
           withdrawal=not at_period_end and subscription.ended_reason == EndedReason.WITHDRAWN)


def resumed(subscription: Subscription) -> None:
    """The shopper took a cancel back: renewals charge again, which the cancel's mail said
    they would not."""
    _queue("resumed", f"resume-{subscription.id}-{clock.now():%Y%m%d%H%M%S%f}", subscription)


def refunded(refund: Refund) -> None:
    """Money given back on one of our payments: how much (the whole payment, part of it, or
    the rest of it), and when it shows. Queued with the refund done, the payment's refunded
    amount already counting it."""
    payment = db.session.get(Payment, refund.payment_id) if refund.payment_id else None
    if payment is None or payment.subscription is None:
        return
    left = max(payment.amount - payment.refunded_amount, 0)
    whole = refund.amount >= payment.amount
    _queue("refunded", f"refund-{refund.id}", payment.subscription, payment=payment, refund=refund,
           whole=whole, rest=not whole and left == 0, left=left)


def price_notice(kind: str, cause: str, subscription: Subscription, expires_at: datetime,
                 **context: Any) -> None:
    """A price change's mail (billing/price_changes.py): asking consent, its reminder, or a
    lower price."""
    _queue(kind, cause, subscription, expires_at=expires_at, **context)


def drop_renewal_notices(subscription: Subscription) -> None:
    """Drop the subscription's renewal notices not sent yet (its renewal will not run as they
    say: a cancel), in the caller's transaction."""
    # The Message-IDs of its notices all begin so (see mail.message_id).
    prefix = message_id("renewal_notice", f"{RENEWAL_CAUSE}{subscription.id}-").partition("@")[0]
    db.session.execute(
        db.update(OutboxMessage)
        .where(OutboxMessage.message_id.startswith(prefix, autoescape=True),
               OutboxMessage.sent_at.is_(None), OutboxMessage.dropped_at.is_(None))
        .values(dropped_at=utcnow()).execution_options(synchronize_session=False))


def subscriptions_owed_a_renewal_notice(now: datetime) -> list[int]:
    """Live subscriptions whose automatic renewal is RENEWAL_NOTICE_DAYS away or less and has
    not run: the notice is due (콘텐츠이용자보호지침: amount, date and card before each
    recurring charge). A retry after a failed renewal has none of its own (the "payment failed"
    mail names it), nor a subscription that ends at its period's end."""
    lead = timedelta(days=current_app.config["RENEWAL_NOTICE_DAYS"])
    return list(db.session.execute(
        db.select(Subscription.id).where(
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.cancel_at_period_end.is_(False),
            Subscription.retry_count == 0,
            Subscription.customer_uid.is_not(None),
            Subscription.current_period_end > now,
            Subscription.current_period_end <= now + lead,
        ).order_by(Subscription.id)
    ).scalars())


def queue_renewal_notices(now: datetime) -> int:
    """Queue the renewal notices due now, each in its own transaction; how many were new. A
    notice not sent by its renewal is dropped then (and reported): the renewal still runs."""
    new = 0
    for subscription_id in subscriptions_owed_a_renewal_notice(now):
        subscription = db.session.get(Subscription, subscription_id)
        period = subscription.current_period_end
        # What iamport will charge, and when, is the scheduled renewal's: fixed when it was sent.
        renewal = db.session.execute(db.select(Payment).where(
            Payment.subscription_id == subscription.id, Payment.kind == PaymentKind.RENEWAL,
            Payment.status == PaymentStatus.SCHEDULED, Payment.period_start == period)).scalars().first()
        amount, currency = ((renewal.amount, renewal.currency) if renewal is not None
                            else (subscription.renewal_price, subscription.plan.currency))
        renews_at = (renewal.scheduled_at if renewal is not None else None) or period
        queued = _queue("renewal_notice", f"{RENEWAL_CAUSE}{subscription.id}-{period:%Y%m%d%H%M%S}",
                        subscription, expires_at=renews_at, renews_at=renews_at, amount=amount,
                        currency=currency)
        db.session.commit()
        new += queued is not None
    return new

