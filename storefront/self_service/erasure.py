"""Erasing an account's personal data, keeping the records the law keeps under a pseudonymous reference."""

from __future__ import annotations

import logging
import secrets

from storefront.billing.common import without_buyer
from storefront.extensions import db
from storefront.models import (
    LoginThrottle, OutboxMessage, Payment, Subscription, User, new_session_token, utcnow,
)

log = logging.getLogger(__name__)

ERASED_DOMAIN = "erased.invalid"


def erase(user: User) -> None:
    """Erase the user's personal data wherever the shop keeps it, in one transaction.

    Kept, as 전자상거래법 §6 requires (5 years): the payments and subscriptions with their
    amounts, dates, plans and order ids, under the user's id, now a pseudonymous reference (the
    row holds no name or address). The address is free to sign up again."""
    old_email = user.email
    db.session.execute(
        db.update(Subscription).where(Subscription.user_id == user.id)
        .values(buyer_email=None, buyer_name=None, card_number=None)
        .execution_options(synchronize_session="fetch"))
    for payment in db.session.execute(
            db.select(Payment).where(Payment.user_id == user.id)).scalars():
        payment.buyer_email = None
        payment.buyer_name = None
        payment.provider_response = without_buyer(payment.provider_response)
    now = utcnow()
    # Mail not sent yet is dropped; mail sent keeps only that it was (kind, subject, when).
    db.session.execute(
        db.update(OutboxMessage).where(OutboxMessage.user_id == user.id,
                                       OutboxMessage.sent_at.is_(None),
                                       OutboxMessage.dropped_at.is_(None))
        .values(dropped_at=now).execution_options(synchronize_session=False))
    db.session.execute(
        db.update(OutboxMessage).where(OutboxMessage.user_id == user.id)
        .values(to_address="", text_body="", html_body="")
        .execution_options(synchronize_session=False))
    # Failed log-ins are counted under the address.
    db.session.execute(db.delete(LoginThrottle).where(LoginThrottle.key.endswith(f"|{old_email}", autoescape=True))
                       .execution_options(synchronize_session=False))
    user.email = f"erased-{user.id}-{secrets.token_hex(6)}@{ERASED_DOMAIN}"
    user.first_name = ""
    user.last_name = ""
    # No password verifies against this (werkzeug answers False for a hash of no method).
    user.password_hash = "!"
    user.session_token = new_session_token()
    user.email_confirmed_at = None
    user.erased_at = now
    db.session.commit()
    log.info("user %s erased", user.id)
