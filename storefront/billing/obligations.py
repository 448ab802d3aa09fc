"""What a subscription owes iamport, carried out after the commit that wrote it, and by reconcile for whatever is left."""

from __future__ import annotations

import logging

from storefront.billing.refunds import give_back
from storefront.billing.renewals import update_schedules
from storefront.billing.schedules import delete_retired_key, keys_to_delete, withdraw
from storefront.extensions import db
from storefront.models import Payment, PaymentStatus, Refund, RefundStatus, RetiredKey

log = logging.getLogger(__name__)


def owed_refunds(subscription_id: int | None = None) -> list[int]:
    """The refunds still owed (of payments made on one subscription's order ids, when given)."""
    query = db.select(Refund.id).where(Refund.status == RefundStatus.OWED).order_by(Refund.id)
    if subscription_id is not None:
        orders = db.select(Payment.merchant_uid).where(Payment.subscription_id == subscription_id)
        query = query.where(Refund.merchant_uid.in_(orders))
    return list(db.session.execute(query).scalars())


def renewals_to_withdraw(subscription_id: int | None = None) -> list[Payment]:
    """The renewals whose schedules iamport is still to drop (of one subscription, when given)."""
    query = db.select(Payment).where(Payment.status == PaymentStatus.WITHDRAWING).order_by(Payment.id)
    if subscription_id is not None:
        query = query.where(Payment.subscription_id == subscription_id)
    return list(db.session.execute(query).scalars())


def give_back_refund(refund_id: int) -> bool:
    """Give back one owed refund, read fresh; True once it is done."""
    refund = db.session.get(Refund, refund_id, populate_existing=True)
    if refund is None or refund.status != RefundStatus.OWED:
        db.session.commit()
        return True
    return give_back(refund)


def delete_key(key_id: int) -> bool:
    """Delete one retired key at iamport, read fresh; True once it is deleted."""
    retired = db.session.get(RetiredKey, key_id, populate_existing=True)
    if retired is None or retired.deleted_at is not None:
        db.session.commit()
        return True
    return delete_retired_key(retired)


def carry_out(subscription_id: int) -> bool:
    """Carry out what the subscription owes iamport: its refunds, its schedules (a new key
    confirmed, the next renewal sent, renewals no longer wanted withdrawn) and its keys to
    delete. True when nothing is left owed; what is left stays in the database, where reconcile
    finds it (each step claims or compare-and-sets its row, so two workers never act twice).
    """
    done = all([give_back_refund(refund_id) for refund_id in owed_refunds(subscription_id)])
    update_schedules(subscription_id)
    done = all([withdraw(row) for row in renewals_to_withdraw(subscription_id)]) and done
    done = all([delete_key(key_id) for key_id in keys_to_delete(subscription_id)]) and done
    if not done:
        log.info("subscription %s still owes iamport something; reconcile carries it out", subscription_id)
    return done
