"""Staff's refund of a payment in full or in part: checked before anything reaches iamport, written as owed in the caller's transaction."""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from storefront.billing.events import record_event
from storefront.billing.common import ActionRefused
from storefront.extensions import db
from storefront.formatting import minor_unit, money
from storefront.models import Payment, PaymentStatus, Refund, Subscription

log = logging.getLogger(__name__)

# Staff's keys are kept apart from the shop's own refunds in full ("full:<imp_uid>").
STAFF_KEY = "staff:"


def refunds_written(imp_uid: str) -> Decimal:
    """Every refund written of iamport's payment: owed, asked or done."""
    return Decimal(db.session.execute(
        db.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(Refund.imp_uid == imp_uid)
    ).scalar_one())


def refundable_balance(payment: Payment) -> Decimal:
    """What staff may still refund of our payment: the amount paid less every refund written of
    it (owed, asked or done); nothing unless it is paid."""
    if payment.status != PaymentStatus.PAID or not payment.imp_uid:
        return Decimal(0)
    return max(Decimal(0), payment.amount - refunds_written(payment.imp_uid))


def refusal(payment: Payment, amount: Any, reason: str) -> str | None:
    """Why staff may not refund `amount` of the payment, in the page's language; None if they may."""
    if payment.status != PaymentStatus.PAID or not payment.imp_uid:
        return _("Only a paid payment can be refunded.")
    if not isinstance(amount, Decimal) or not amount.is_finite():
        return _("Enter the amount to refund as a number.")
    if amount <= 0:
        return _("The amount to refund must be more than zero.")
    # The balance first: an amount with an exponent past any price (1e400) cannot be divided.
    left = refundable_balance(payment)
    if amount > left:
        return _("At most %(left)s of this payment can still be refunded.",
                 left=money(left, payment.currency))
    unit = minor_unit(payment.currency)
    if amount % unit != 0:
        return _("An amount in %(currency)s cannot have a fraction of %(unit)s.",
                 currency=payment.currency, unit=money(unit, payment.currency))
    if not reason.strip():
        return _("Give the reason for the refund.")
    return None


def refund_by_staff(payment: Payment, amount: Decimal, reason: str,
                    request_key: str | None = None, prefix: str = STAFF_KEY) -> Refund:
    """Write staff's refund of `amount` of our paid payment as owed, in the CALLER's
    transaction; after its commit, `obligations.carry_out(payment.subscription_id)` asks
    iamport for it (or reconcile does), and the customer is mailed when iamport's record shows
    it returned.

    Refused with ActionRefused (its message translated) before anything is written or sent:
    an amount that is not a Decimal, not above zero, has a fraction of the currency's minor
    unit or is more than the refundable balance; a payment that is not paid; no reason.
    `request_key` (the form's one-time token, say) makes a resubmission of the same request
    return the refund written the first time. Ending the subscription too is a separate call
    (`lifecycle.cancel`), by default not made. `prefix` keeps the keys of an ending's refunds
    (billing.ending) apart from staff's.
    """
    key = f"{prefix}{request_key or secrets.token_hex(16)}"[:80]
    written = db.session.execute(db.select(Refund).where(Refund.request_key == key)).scalar_one_or_none()
    if written is not None:
        if written.payment_id != payment.id:
            raise ActionRefused(_("This form was already used for another payment."))
        return written
    # A write to the payment's row before the balance is read: two refunds of one payment are
    # then checked one after the other (a row lock on PostgreSQL; on SQLite it opens the write
    # transaction now, where SELECT … FOR UPDATE does nothing).
    db.session.execute(db.update(Payment).where(Payment.id == payment.id)
                       .values(refunded_amount=Payment.refunded_amount)
                       .execution_options(synchronize_session=False))
    written = db.session.execute(db.select(Refund).where(Refund.request_key == key)).scalar_one_or_none()
    if written is not None:  # the same form, submitted twice at once, got here first
        return written
    why = refusal(payment, amount, reason)
    if why is not None:
        raise ActionRefused(why)
    refund = Refund(request_key=key, imp_uid=payment.imp_uid, merchant_uid=payment.merchant_uid,
                    payment_id=payment.id, amount=amount, currency=payment.currency,
                    reason=reason.strip()[:255])
    db.session.add(refund)
    db.session.flush()
    if payment.subscription_id is not None:
        record_event(payment.subscription_id, "refund_owed", payment=payment, amount=amount,
                     currency=payment.currency, reason=refund.reason, imp_uid=payment.imp_uid,
                     merchant_uid=payment.merchant_uid)
    log.warning("refund by staff owed: %s %s of %s (%s)", amount, payment.currency,
                payment.merchant_uid, refund.reason)
    return refund


def paid_payments_newest_first(subscription_id: int) -> list[Payment]:
    """The subscription's paid payments, newest first: iamport refunds per payment, and the
    newest paid for the time given up first."""
    return list(db.session.execute(
        db.select(Payment).where(Payment.subscription_id == subscription_id,
                                 Payment.status == PaymentStatus.PAID, Payment.imp_uid.is_not(None))
        .order_by(Payment.paid_at.desc(), Payment.id.desc())
    ).scalars())


def refundable_of_subscription(subscription_id: int) -> Decimal:
    """What staff may still refund of all the subscription's paid payments together."""
    return sum((refundable_balance(p) for p in paid_payments_newest_first(subscription_id)), Decimal(0))


def split_refund(subscription: Subscription, amount: Decimal) -> list[tuple[Payment, Decimal]]:
    """How a refund of `amount` over the subscription is made: from its paid payments, newest
    first, each up to what is left of it. ActionRefused when they hold less than `amount`."""
    parts: list[tuple[Payment, Decimal]] = []
    left = amount
    for payment in paid_payments_newest_first(subscription.id):
        if left <= 0:
            break
        share = min(left, refundable_balance(payment))
        if share > 0:
            parts.append((payment, share))
            left -= share
    if left > 0:
        raise ActionRefused(_("At most %(left)s of this subscription's payments can still be refunded.",
                              left=money(amount - left, subscription.plan.currency)))
    return parts
