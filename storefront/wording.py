"""How subscriptions and payments are worded on pages: statuses, stored reasons, cards, intervals."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext, lazy_pgettext

from storefront.billing.ending import UNUSED_DAYS_REASON, WITHDRAWAL_REASON
from storefront.billing.recording import UNUSABLE
from storefront.billing.refunds import (
    ALREADY_CANCELED, ALREADY_SUBSCRIBED, NOT_THE_ORDERS, ORDER_EXPIRED, PERIOD_PAID_ALREADY,
)
from storefront.billing.verification import CARD_DECLINED, REVIEW_EXPIRED
from storefront.billing.plan_change import CHANGE_TOO_LATE
from storefront.formatting import date_long, money
from storefront.i18n import page_language
from storefront.models import Plan, Subscription, SubscriptionStatus

# A plan's interval as a period of time, for sentences such as "it paid one more month".
INTERVAL_WORDS = {"month": lazy_gettext("month"), "year": lazy_gettext("year")}


# A subscription's status as a shopper reads it (the stored value stays "canceled").
STATUS_LABELS = {
    "incomplete": lazy_gettext("under review"),
    "active": lazy_gettext("active"),
    "past_due": lazy_gettext("past due"),
    "canceled": lazy_gettext("cancelled"),
}
# A payment's status in the history; "cancelled" there is a payment called off, not a
# subscription ended, so it has its own context.
PAYMENT_STATUS_LABELS = {
    "pending": lazy_gettext("pending"),
    "paid": lazy_gettext("paid"),
    "failed": lazy_gettext("failed"),
    "review": lazy_gettext("under review"),
    "cancelled": lazy_pgettext("payment", "cancelled"),
    "scheduled": lazy_gettext("scheduled"),
    "revoked": lazy_gettext("withdrawn"),
    "withdrawing": lazy_gettext("being withdrawn"),
}
# Why a payment was made, in the history.
PAYMENT_KIND_LABELS = {
    "first": lazy_gettext("First payment"),
    "repeat": lazy_gettext("Charge now"),
    "renewal": lazy_gettext("Renewal"),
    "new_card": lazy_gettext("New card"),
    "change": lazy_gettext("Plan change"),
}
# Reasons we store on a payment or refund in English (logs and audits read them), shown in the
# page's language; a PG's own message is shown as it came.
STORED_REASONS = {
    "Not completed: no payment was made.": lazy_gettext("Not completed: no payment was made."),
    CARD_DECLINED: lazy_gettext("The card was declined."),
    "The payment provider refused the charge.": lazy_gettext("The payment provider refused the charge."),
    "We could not reach the payment provider; nothing was charged.":
        lazy_gettext("We could not reach the payment provider; nothing was charged."),
    ALREADY_SUBSCRIBED: lazy_gettext("Refunded: you already subscribe to this plan, so this second "
                                     "payment was not needed."),
    ALREADY_CANCELED: lazy_gettext("Refunded: the subscription had been cancelled before this "
                                   "payment went through."),
    PERIOD_PAID_ALREADY: lazy_gettext("Refunded: this period had already been paid by another attempt."),
    ORDER_EXPIRED: lazy_gettext("Refunded: this order had expired and the plan is no longer sold at its "
                                "price; please subscribe again at today's price."),
    CHANGE_TOO_LATE: lazy_gettext("Refunded: the plan change was paid too late to apply, so the plan "
                                  "did not change."),
    UNUSABLE: lazy_gettext("Refunded: this payment could not be applied to the subscription."),
    WITHDRAWAL_REASON: lazy_gettext("Withdrawal within the withdrawal period: refunded in full."),
    UNUSED_DAYS_REASON: lazy_gettext("Cancelled now: the unused whole days refunded."),
    REVIEW_EXPIRED: lazy_gettext("PAYMENTWALL held this payment for review too long, so we count it "
                                 "as declined. If it is approved later, we record it."),
}


def status_label(status: str) -> str:
    """A subscription status in words."""
    return str(STATUS_LABELS.get(str(status), str(status).replace("_", " ")))


def payment_status_label(status: str) -> str:
    """A payment's status in words."""
    return str(PAYMENT_STATUS_LABELS.get(str(status), str(status)))


def payment_state_label(payment: Any) -> str:
    """A payment's status in the history, saying what of it was refunded: "partially refunded"
    while some but not all of it is given back (it stays paid for its period), "refunded" once
    all of it is."""
    refunded = getattr(payment, "refunded_amount", None) or 0
    if str(payment.status) == "paid" and 0 < refunded < payment.amount:
        return _("partially refunded")
    if str(payment.status) == "cancelled" and refunded >= payment.amount:
        return _("refunded")
    return payment_status_label(payment.status)


def refund_reason_shown(refund: Any) -> str:
    """Why a refund was made, for the customer: the shop's own reasons in their words; staff's
    free text only when it is written in the page's language (else nothing)."""
    if refund.in_full:
        return reason_shown(refund.reason)
    if bool(HANGUL.search(refund.reason or "")) == (page_language() == "ko"):
        return refund.reason or ""
    return ""


def payment_kind_label(kind: str) -> str:
    """Why a payment was made, in words."""
    return str(PAYMENT_KIND_LABELS.get(str(kind), str(kind)))


# What PAYMENTWALL's own messages say, in either language: it answers in the language of the
# window that issued the key, which need not be the page's (the shopper switched since). Read
# in order: the first that matches gives the words shown.
PG_REASONS = (
    (re.compile(r"held for|보류", re.IGNORECASE),
     lazy_gettext("PAYMENTWALL is holding the payment for a risk review; it may still be approved.")),
    (re.compile(r"closed the payment window|사용자가 결제를 취소", re.IGNORECASE),
     lazy_gettext("The payment window was closed before paying; nothing was charged.")),
    (re.compile(r"cvv|cvc|security code|보안코드", re.IGNORECASE),
     lazy_gettext("The card was declined: please check its security code (CVC).")),
    (re.compile(r"insufficient|funds|balance|잔액|한도", re.IGNORECASE),
     lazy_gettext("The card was declined: there are not enough funds on it.")),
    (re.compile(r"approv|승인을 요청", re.IGNORECASE),
     lazy_gettext("The card was declined: please ask your bank to approve this payment.")),
    (re.compile(r"risk review|위험 심사", re.IGNORECASE),
     lazy_gettext("PAYMENTWALL declined the payment after its risk review.")),
)
HANGUL = re.compile("[\uac00-\ud7a3]")


def reason_shown(reason: str | None, status: str | None = None) -> str:
    """A stored failure or refund reason in the page's language; a PG's own message as it came
    when it is in the page's language, else in our words (those of the payment's `status`
    when the message names nothing we know)."""
    # The mismatch named after NOT_THE_ORDERS is for the logs, in English.
    if reason and reason.startswith(NOT_THE_ORDERS):
        return _("Refunded: this payment did not match the order, so it was not needed.")
    if not reason or reason in STORED_REASONS:
        return str(STORED_REASONS.get(reason or "", ""))
    if bool(HANGUL.search(reason)) == (page_language() == "ko"):
        return reason
    return pg_reason_in_our_words(reason, status)


def pg_reason_in_our_words(reason: str, status: str | None = None) -> str:
    """What a PG's message in another language says, in the page's: the kind of decline it
    names, else that the payment was cancelled (a cancel's reason) or the card declined."""
    for pattern, words in PG_REASONS:
        if pattern.search(reason):
            return str(words)
    if status == "cancelled":
        return _("The payment was cancelled.")
    return str(STORED_REASONS[CARD_DECLINED])


def refused_text(reason: str | None) -> str:
    """What the shopper is told right after a payment was refused and given back (the callback's
    answer, the mobile return's message): the stored reason, which may name our MID or amounts,
    in the shopper's words."""
    return _("Your payment was not accepted. %(reason)s", reason=reason_shown(reason))


def failure_shown(reason: str | None) -> str:
    """Why a payment failed, in the page's language; a decline when nothing more is known."""
    return reason_shown(reason) or _("The card was declined.")


def in_review_text(plan: Plan) -> str:
    """What a shopper whose first payment for the plan is held for review is told."""
    return _("Your payment for %(plan)s is being reviewed by PAYMENTWALL. We activate the "
             "subscription as soon as it is approved; you do not need to pay again.",
             plan=plan.shown_name)


def activating(subscription: Subscription) -> bool:
    """A live subscription whose card PAYMENTWALL has not confirmed yet (the account page polls)."""
    return (subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
            and subscription.billing_key_ready_at is None)


def card_shown(subscription: Subscription) -> str:
    """The card on file by its name and last four digits, never its masked number."""
    last_four = subscription.card_last_four
    if last_four is None:
        return subscription.card_name or _("Card")
    return _("%(card)s ending in %(last_four)s", card=subscription.card_name or _("Card"),
             last_four=last_four)


def charge_caption(subscription: Subscription) -> str:
    """What "Charge now" pays: the overdue renewal when past due, else the next period early."""
    if subscription.status == SubscriptionStatus.PAST_DUE:
        return _('"Charge now" pays the overdue renewal now; your paid period then runs on from '
                 'where it stopped.')
    return _('"Charge now" pays your next period in advance; the following renewal moves one '
             '%(interval)s later.', interval=interval_word(subscription.plan.interval))


def interval_word(interval: str) -> str:
    """A plan's interval as a period of time."""
    return str(INTERVAL_WORDS.get(str(interval), str(interval)))


def next_charge_text(subscription: Subscription, next_charge: datetime | None) -> str:
    """The "Next charge" line of a live subscription (the overview and its status)."""
    plan = subscription.plan
    if subscription.cancel_at_period_end and subscription.status == SubscriptionStatus.ACTIVE:
        return _("none: the subscription ends")
    if next_charge:
        if subscription.status == SubscriptionStatus.PAST_DUE:
            return _("%(amount)s on %(date)s (retry %(retry)d of %(retries)d)",
                     amount=money(subscription.renewal_price, plan.currency), date=date_long(next_charge),
                     retry=subscription.retry_count,
                     retries=len(current_app.config["RENEWAL_RETRY_DAYS"]))
        return _("%(amount)s on %(date)s", amount=money(subscription.renewal_price, plan.currency),
                 date=date_long(next_charge))
    if subscription.billing_key_ready_at is None:
        return _("scheduled once your card is activated")
    return _("being scheduled")


def register(app: Flask) -> None:
    """Give every template these words (the account's pages and the checkout's result)."""
    app.jinja_env.globals.update(
        interval_word=interval_word, status_label=status_label, reason_shown=reason_shown,
        failure_shown=failure_shown,
        payment_status_label=payment_status_label, payment_kind_label=payment_kind_label,
        payment_state_label=payment_state_label, refund_reason_shown=refund_reason_shown,
        activating=activating, in_review_text=in_review_text,
        card_shown=card_shown, charge_caption=charge_caption,
    )
