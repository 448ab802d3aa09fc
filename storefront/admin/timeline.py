"""A subscription's timeline for staff: its events, the webhooks received for it and the mail sent about it, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _, lazy_gettext

from storefront.extensions import db
from storefront.formatting import date_long, datetime_long, money
from storefront.models import OutboxMessage, SubscriptionEvent, WebhookReceipt
from storefront.wording import STORED_REASONS

EVENT_LABELS = {
    "consent_given": lazy_gettext("Consent to the recurring payment given"),
    "payment_attempt": lazy_gettext("Payment attempted"),
    "payment_paid": lazy_gettext("Payment paid"),
    "payment_failed": lazy_gettext("Payment failed"),
    "payment_held": lazy_gettext("Payment held for review"),
    "payment_cancelled": lazy_gettext("Payment cancelled at iamport"),
    "refund_owed": lazy_gettext("Refund owed"),
    "refund_done": lazy_gettext("Refund given back"),
    "renewal_scheduled": lazy_gettext("Renewal scheduled"),
    "schedule_withdrawn": lazy_gettext("Renewal schedule withdrawn"),
    "activated": lazy_gettext("Subscription activated"),
    "renewed": lazy_gettext("Period extended"),
    "card_changed": lazy_gettext("Card changed"),
    "past_due": lazy_gettext("Past due"),
    "cancel_requested": lazy_gettext("Cancel at the period's end requested"),
    "resumed": lazy_gettext("Cancel withdrawn; renewals resume"),
    "ended": lazy_gettext("Subscription ended"),
    "price_consent_asked": lazy_gettext("Consent to a price increase asked; set to end without it"),
    "price_consent_reminded": lazy_gettext("Consent to a price increase: reminder"),
    "price_agreed": lazy_gettext("New price agreed to"),
    "price_lowered": lazy_gettext("Price lowered for the next renewal"),
    "plan_changed": lazy_gettext("Plan changed"),
    "plan_change_scheduled": lazy_gettext("Plan change at the period's end requested"),
    "plan_change_cancelled": lazy_gettext("Plan change called off"),
}
CAUSE_LABELS = {
    "shopper": lazy_gettext("Shopper"),
    "webhook": lazy_gettext("Webhook"),
    "reconcile": lazy_gettext("Reconcile"),
    "staff": lazy_gettext("Staff"),
    "clock": lazy_gettext("Period end"),
    "sandbox": lazy_gettext("Sandbox reset"),
    "system": lazy_gettext("System"),
}
MAIL_LABELS = {
    "contract": lazy_gettext("Mail: contract confirmation"),
    "receipt": lazy_gettext("Mail: receipt"),
    "card_changed": lazy_gettext("Mail: new card"),
    "payment_failed": lazy_gettext("Mail: payment failed"),
    "ended_unpaid": lazy_gettext("Mail: ended unpaid"),
    "cancelled": lazy_gettext("Mail: cancellation"),
    "resumed": lazy_gettext("Mail: resumed"),
    "refunded": lazy_gettext("Mail: refund"),
    "renewal_notice": lazy_gettext("Mail: renewal notice"),
    "price_consent": lazy_gettext("Mail: consent to a price increase"),
    "price_lowered": lazy_gettext("Mail: lower price"),
    "plan_changed": lazy_gettext("Mail: plan change"),
}
MAIL_STATUS_LABELS = {
    "queued": lazy_gettext("queued"),
    "sent": lazy_gettext("sent"),
    "failed": lazy_gettext("failed, to be tried again"),
    "dropped": lazy_gettext("dropped unsent"),
}
OUTCOME_LABELS = {
    "recorded": lazy_gettext("Recorded"),
    "not_ours": lazy_gettext("Not the order's payment"),
    "unknown_order": lazy_gettext("Unknown order"),
    "refused": lazy_gettext("Refused (address not allowed)"),
    "error": lazy_gettext("Error (iamport did not answer)"),
    "bad_request": lazy_gettext("Bad request"),
}
ENDED_REASONS = {
    "cancelled": lazy_gettext("cancelled"),
    "payment_failed": lazy_gettext("unpaid after the last retry"),
    "price_not_agreed": lazy_gettext("no consent to a price increase"),
    "given_up": lazy_gettext("given up before it started"),
    "withdrawal": lazy_gettext("withdrawn (청약철회)"),
    "sandbox_reset": lazy_gettext("the sandbox was reset"),
}
# Which of items at the same moment is shown first (newest first): what followed comes above.
SOURCE_ORDER = {"webhook": 0, "event": 1, "mail": 2}


@dataclass(frozen=True)
class TimelineItem:
    """One line of the timeline: when, what (translated), who or what caused it, and details."""

    when: datetime
    source: str  # event, webhook or mail
    kind: str  # the event's kind, the webhook's outcome or the mail's kind
    what: str
    detail: str
    subscription_id: int
    cause: str | None = None
    cause_label: str | None = None
    status: str | None = None  # a mail's status, a webhook's outcome
    row_id: int = 0


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def reason_text(reason: str) -> str:
    """A reason in the page's language when it is one of ours; a PG's message, or the details
    of a mismatch, as stored (staff need its very words)."""
    if reason in ENDED_REASONS:
        return str(ENDED_REASONS[reason])
    if reason in STORED_REASONS:
        return str(STORED_REASONS[reason])
    return reason


def event_detail(detail: dict[str, Any]) -> str:
    """The readable part of an event's detail: amount, reason, dates, order id."""
    parts = []
    for key in ("amount", "refunded"):
        if key in detail:
            try:
                parts.append(money(Decimal(str(detail[key])), detail.get("currency", "USD")))
            except InvalidOperation:
                parts.append(str(detail[key]))
    if detail.get("version"):
        parts.append(_("consent text %(version)s", version=detail["version"]))
    if detail.get("retry"):
        parts.append(_("failed renewal %(count)s", count=detail["retry"]))
    if (end := _moment(detail.get("period_end"))) is not None:
        parts.append(_("paid until %(date)s", date=date_long(end)))
    if (due := _moment(detail.get("due"))) is not None:
        parts.append(_("due %(when)s", when=datetime_long(due)))
    if detail.get("reason"):
        parts.append(reason_text(str(detail["reason"])))
    if detail.get("merchant_uid"):
        parts.append(str(detail["merchant_uid"]))
    return " · ".join(parts)


def _events(subscription_id: int, limit: int) -> list[TimelineItem]:
    rows = db.session.execute(
        db.select(SubscriptionEvent).where(SubscriptionEvent.subscription_id == subscription_id)
        .order_by(SubscriptionEvent.occurred_at.desc(), SubscriptionEvent.id.desc()).limit(limit)
    ).scalars()
    return [TimelineItem(when=row.occurred_at, source="event", kind=str(row.kind),
                         what=str(EVENT_LABELS.get(row.kind, row.kind)),
                         detail=event_detail(row.detail or {}), subscription_id=subscription_id,
                         cause=str(row.cause), cause_label=str(CAUSE_LABELS.get(row.cause, row.cause)),
                         row_id=row.id)
            for row in rows]


def _webhooks(subscription_id: int, limit: int) -> list[TimelineItem]:
    rows = db.session.execute(
        db.select(WebhookReceipt.id, WebhookReceipt.received_at, WebhookReceipt.outcome,
                  WebhookReceipt.imp_uid, WebhookReceipt.body, WebhookReceipt.detail)
        .where(WebhookReceipt.subscription_id == subscription_id)
        .order_by(WebhookReceipt.received_at.desc(), WebhookReceipt.id.desc()).limit(limit)
    ).all()
    items = []
    for row in rows:
        said = row.body.get("status") if isinstance(row.body, dict) else None
        parts = [str(OUTCOME_LABELS.get(row.outcome, row.outcome)), row.imp_uid or "",
                 _("says %(status)s", status=said) if said else ""]
        items.append(TimelineItem(when=row.received_at, source="webhook", kind=str(row.outcome),
                                  what=_("Webhook received"), detail=" · ".join(p for p in parts if p),
                                  subscription_id=subscription_id, cause="webhook",
                                  cause_label=str(CAUSE_LABELS["webhook"]), status=str(row.outcome),
                                  row_id=row.id))
    return items


def _mails(subscription_id: int, limit: int) -> list[TimelineItem]:
    # Columns only: a message's bodies are large and the timeline shows none of them.
    rows = db.session.execute(
        db.select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.subject, OutboxMessage.created_at,
                  OutboxMessage.sent_at, OutboxMessage.dropped_at, OutboxMessage.last_error)
        .where(OutboxMessage.subscription_id == subscription_id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)
    ).all()
    items = []
    for row in rows:
        status = ("sent" if row.sent_at else "dropped" if row.dropped_at
                  else "failed" if row.last_error else "queued")
        parts = [f"“{row.subject}”", str(MAIL_STATUS_LABELS[status])]
        if row.sent_at:
            parts.append(_("sent %(when)s", when=datetime_long(row.sent_at)))
        items.append(TimelineItem(when=row.created_at, source="mail", kind=row.kind,
                                  what=str(MAIL_LABELS.get(row.kind, row.kind)), detail=" · ".join(parts),
                                  subscription_id=subscription_id, status=status, row_id=row.id))
    return items


def timeline_of(subscription_id: int, limit: int = 200) -> list[TimelineItem]:
    """The subscription's timeline, newest first: one query per source, each limited, merged.

    A mail's time is when it was queued, by the system clock (the outbox's); in sandbox mode
    the shop's clock may run ahead of it, so mails sort among events by the system's time."""
    items = (_events(subscription_id, limit) + _webhooks(subscription_id, limit)
             + _mails(subscription_id, limit))
    items.sort(key=lambda item: (item.when, -SOURCE_ORDER[item.source], item.row_id), reverse=True)
    return items[:limit]
