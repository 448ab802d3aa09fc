"""The subscription's timeline as it is written: record_event adds an event to the caller's transaction, with the cause of the change taken from where the work began."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Iterator

from flask import g, has_app_context, has_request_context, request

from storefront import clock
from storefront.extensions import db
from storefront.models import EventCause, EventKind, Payment, Subscription, SubscriptionEvent

log = logging.getLogger(__name__)

# The cause of work done in a request, by the blueprint that answers it (anything else: the shopper).
BLUEPRINT_CAUSES = {"webhooks": EventCause.WEBHOOK, "admin": EventCause.STAFF}
# The longest text kept in an event's detail (a reason): the timeline shows it, it is no archive.
DETAIL_TEXT = 200


@contextmanager
def caused_by(cause: str) -> Iterator[None]:
    """Every event recorded inside is caused by `cause` (innermost wins): for work that does
    not begin in a request of its own (reconcile, work after a webhook's answer)."""
    stack = g.setdefault("event_causes", []) if has_app_context() else []
    stack.append(EventCause(cause))
    try:
        yield
    finally:
        stack.pop()


def current_cause() -> EventCause:
    """Who or what is changing things now: an explicit caused_by, else the request's
    blueprint (the webhook, the back office, or the shopper), else the system."""
    stack = g.get("event_causes") if has_app_context() else None
    if stack:
        return stack[-1]
    if has_request_context():
        return BLUEPRINT_CAUSES.get(request.blueprint or "", EventCause.SHOPPER)
    return EventCause.SYSTEM


def _small(value: Any) -> Any:
    """A detail value the JSON column keeps as it is shown."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str):
        return value[:DETAIL_TEXT]
    return value


def record_event(subscription: Subscription | int, kind: str, payment: Payment | None = None,
                 **detail: Any) -> SubscriptionEvent:
    """Add an event to the caller's transaction: it is committed (or rolled back) with the change
    it tells of. A payment, when given, adds its amount, currency, status and merchant_uid."""
    if payment is not None:
        detail = {"merchant_uid": payment.merchant_uid, "amount": payment.amount,
                  "currency": payment.currency, "status": payment.status,
                  "payment_kind": payment.kind, **detail}
    event = SubscriptionEvent(kind=EventKind(kind), cause=current_cause(), occurred_at=clock.now(),
                              detail={key: _small(value) for key, value in detail.items()
                                      if value is not None})
    # Objects, not ids, when given: a subscription or payment not flushed yet has none.
    if isinstance(subscription, Subscription):
        event.subscription = subscription
    else:
        event.subscription_id = subscription
    if payment is not None:
        event.payment = payment
    db.session.add(event)
    return event


PAYMENT_EVENTS = {"paid": EventKind.PAYMENT_PAID, "failed": EventKind.PAYMENT_FAILED,
                  "review": EventKind.PAYMENT_HELD, "cancelled": EventKind.PAYMENT_CANCELLED}


def record_payment_outcome(payment: Payment, reason: str | None = None) -> None:
    """The event of a payment that just moved to a verified outcome (none for other moves)."""
    kind = PAYMENT_EVENTS.get(str(payment.status))
    if kind is not None and payment.subscription_id is not None:
        record_event(payment.subscription_id, kind, payment=payment, reason=reason)


def record_for_order(merchant_uid: str, kind: str, **detail: Any) -> None:
    """The event of our order `merchant_uid`, just moved by a compare-and-set (read fresh, as
    the move did not bring the session's copy up to date); none for an order of no subscription."""
    payment = db.session.execute(
        db.select(Payment).where(Payment.merchant_uid == merchant_uid)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if payment is not None and payment.subscription_id is not None:
        record_event(payment.subscription_id, kind, payment=payment, **detail)
