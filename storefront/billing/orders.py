"""Creating orders: the checkout's first payment, a card change and "charge now", each registered with iamport before it is paid."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from storefront import clock
from storefront.billing.common import (
    CONFLICT_RETRIES,
    LIVE_STATUSES,
    ActionRefused,
    charge_card_on_file,
    client,
    live_subscription,
    new_charge,
    new_customer_uid,
    new_merchant_uid,
)
from storefront.billing.events import record_event
from storefront.billing.recording import apply_outcome, record_payment
from storefront.billing.verification import Outcome, to_decimal
from storefront.extensions import db
from storefront.i18n import page_language
from storefront.iamport import IamportError
from storefront.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Plan,
    Refund,
    Subscription,
    SubscriptionStatus,
    User,
)
from storefront.models.subscriptions import ORDER_NAME_LENGTH

log = logging.getLogger(__name__)


class DuplicateSubmission(Exception):
    """The form's one-time token was used already; carries the payment it made."""

    def __init__(self, payment: Payment) -> None:
        super().__init__(payment.merchant_uid)
        self.payment = payment


def prepare(payment: Payment) -> None:
    """Register the order's amount with iamport (`payments/prepare`) once.

    An earlier attempt may have reached iamport without its answer reaching us; then iamport
    refuses a second prepare, and the amount it holds decides whether we are done.
    """
    if payment.prepared_at is not None:
        return
    try:
        client().prepare_payment(payment.merchant_uid, payment.amount, payment.currency)
    except IamportError as exc:
        if exc.unknown_outcome:
            raise
        prepared = client().get_prepared_payment(payment.merchant_uid)
        if to_decimal(prepared.get("amount")) != payment.amount:
            raise
    payment.prepared_at = clock.now()
    db.session.commit()


def pending_first_payment(user: User, plan: Plan, consent_version: str) -> Payment:
    """The user's pending first payment for the plan opened lately at today's price, or a new one
    (with its subscription, if none is being bought), committed before iamport hears of it with
    the consent to the recurring payment just given."""
    subscription = db.session.execute(
        db.select(Subscription).where(
            Subscription.user_id == user.id,
            Subscription.plan_id == plan.id,
            Subscription.status == SubscriptionStatus.INCOMPLETE,
        )
    ).scalars().first()
    payment = None
    if subscription is None:
        subscription = Subscription(user=user, plan=plan, status=SubscriptionStatus.INCOMPLETE)
        db.session.add(subscription)
    else:
        # An order opened before the account's address changed is not offered again: the
        # window would show, and the key keep, the old address.
        payment = open_window_order(subscription, PaymentKind.FIRST, opened_for(user))
    if payment is None:
        payment = Payment(
            merchant_uid=new_merchant_uid("sub"),
            user=user,
            subscription=subscription,
            amount=plan.price,
            currency=plan.currency,
            kind=PaymentKind.FIRST,
            customer_uid=new_customer_uid(user),
            buyer_email=user.email,
            buyer_name=user.buyer_name,
        )
        db.session.add(payment)
        record_event(subscription, "payment_attempt", payment=payment)
    # The latest consent is the one the order about to be paid was opened with, and the
    # language it was read in names every order of the subscription from now on.
    subscription.consent_at = clock.now()
    subscription.consent_version = consent_version
    subscription.order_name = plan.name_in(page_language())[:ORDER_NAME_LENGTH]
    record_event(subscription, "consent_given", version=consent_version)
    # Recorded before iamport hears of it, so no answer from iamport can be about an order we lack.
    db.session.commit()
    return payment


def open_checkout(user: User, plan: Plan, consent_version: str) -> Payment:
    """A pending first payment for the plan, registered with iamport by `payments/prepare`, once
    the user consented to the recurring payment (the version of the text they agreed to).

    A reload of the checkout page gets the same pending payment back; a payment that failed
    or was settled never does, so a retry always has a new `merchant_uid`. Two pages opened at
    once share one subscription: the database holds one per user and plan being bought or live.
    """
    # Pages of one shopper opening it at once each write the subscription; the ones that lose
    # read it again (as retried_on_conflict does), and the winner's order is reused.
    for attempt in range(CONFLICT_RETRIES):
        try:
            payment = pending_first_payment(user, plan, consent_version)
            break
        except (IntegrityError, StaleDataError):
            # Another page opened the subscription, or recorded its consent on it, at this moment.
            db.session.rollback()
            if live_subscription(user, plan) is not None:
                raise ActionRefused(_("You already subscribe to %(plan)s.",
                                      plan=plan.shown_name)) from None
            if attempt == CONFLICT_RETRIES - 1:
                raise
    prepare(payment)
    return payment


def open_window_order(subscription: Subscription, kind: PaymentKind, *conditions: Any) -> Payment | None:
    """The subscription's order of this kind opened for the payment window within ORDER_EXPIRES,
    at today's price, that nobody paid: a window left open or closed by the shopper is offered
    again. A failed order, or one iamport took a payment on that was refused (another amount, a
    test channel …), is never offered again: iamport would refuse it as paid already."""
    plan = subscription.plan
    refused = db.select(Refund.id).where(Refund.merchant_uid == Payment.merchant_uid).exists()
    return db.session.execute(
        db.select(Payment)
        .where(
            Payment.subscription_id == subscription.id,
            Payment.kind == kind,
            Payment.status == PaymentStatus.PENDING,
            Payment.created_at > clock.now() - current_app.config["ORDER_EXPIRES"],
            Payment.amount == subscription.renewal_price,
            Payment.currency == plan.currency,
            ~refused,
            *conditions,
        )
        .order_by(Payment.created_at.desc())
    ).scalars().first()


def opened_for(user: User) -> Any:
    """An order opened with the account's current address (or before orders kept it)."""
    return Payment.buyer_email.is_(None) | (Payment.buyer_email == user.email)


def open_card_change_of(subscription: Subscription) -> Payment | None:
    """The card change opened for this subscription lately and not paid, at today's price."""
    # Paid already or not, a card change on the key in use is no longer a new card.
    return open_window_order(subscription, PaymentKind.CARD_CHANGE,
                             Payment.customer_uid != subscription.customer_uid,
                             Payment.idempotency_key.is_(None),
                             opened_for(subscription.user))


def open_card_change(subscription: Subscription, consent_version: str | None = None) -> Payment:
    """A window payment for the next period under a new `customer_uid` (PAYMENTWALL issues a
    key only with a charge); once paid, its key replaces the old one. `consent_version`: the
    text of the consent the shopper gave on the card page."""
    if subscription.status not in LIVE_STATUSES:
        raise ActionRefused(_("Only an active subscription can change card."))
    # A reload of the page gets the order it opened back, as the checkout page does, so the
    # history does not fill with pending card changes nobody paid.
    payment = open_card_change_of(subscription)
    if payment is None:
        user = subscription.user
        payment = new_charge(subscription, PaymentKind.CARD_CHANGE, new_merchant_uid("card"),
                             customer_uid=new_customer_uid(user), buyer_email=user.email,
                             buyer_name=user.buyer_name)
        db.session.add(payment)
        record_event(subscription, "payment_attempt", payment=payment)
    if consent_version:
        record_event(subscription, "consent_given", version=consent_version, payment=payment)
    db.session.commit()
    prepare(payment)
    return payment


def charge_refusal(subscription: Subscription) -> str | None:
    """Why "Charge now" is not possible right now, or None when it is."""
    if subscription.status not in LIVE_STATUSES:
        return _("Only an active subscription can be charged.")
    if subscription.cancel_at_period_end:
        from storefront.billing.price_changes import open_consent  # it schedules through renewals

        if open_consent(subscription) is not None:
            # Set to end for want of consent to a new price: resuming is not offered.
            return _("This subscription ends at the end of the period unless you agree to the "
                     "new price on this page; agree to it first to charge now.")
        return _("This subscription ends at the end of the period; resume it first.")
    if subscription.billing_key_ready_at is None:
        return _("Your card is still being activated by PAYMENTWALL. This takes a few seconds.")
    if subscription.next_plan_id is not None:
        # The next period is the new plan's: it starts with the renewal at the period's end.
        return _("A plan change waits for the end of the period; call it off to charge now.")
    return None


def charge_now(subscription: Subscription, token: str) -> Payment:
    """Charge the stored card for the next period (POST /subscribe/payments/again), once per token.

    The pending payment is written first, so an answer that never comes leaves a record that
    reconcile settles by lookup; a timeout is never followed by a second charge.
    """
    refusal = charge_refusal(subscription)
    if refusal:
        raise ActionRefused(refusal)
    payment = new_charge(subscription, PaymentKind.REPEAT, new_merchant_uid("rep"),
                         idempotency_key=token)
    db.session.add(payment)
    record_event(subscription, "payment_attempt", payment=payment)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        earlier = db.session.execute(
            db.select(Payment).where(
                Payment.idempotency_key == token, Payment.subscription_id == subscription.id
            )
        ).scalar_one_or_none()
        if earlier is None:
            raise
        raise DuplicateSubmission(earlier) from None
    try:
        info = charge_card_on_file(payment, subscription)
    except IamportError as exc:
        if exc.unknown_outcome:
            log.warning("charge %s outcome unknown, left pending: %s", payment.merchant_uid, exc)
            return payment
        # The request was refused (code != 0) or never sent (no token): nothing was charged.
        reason = ("The payment provider refused the charge." if exc.status
                  else "We could not reach the payment provider; nothing was charged.")
        apply_outcome(payment, Outcome(PaymentStatus.FAILED, reason), {"imp_uid": None})
        db.session.commit()
        log.info("charge %s refused by iamport: %s", payment.merchant_uid, exc)
        return payment
    return record_payment(info).payment
