"""Staff's money actions on a customer's behalf: refund a payment in full or in part, and cancel a subscription (now, with the refund billing.ending's rule offers, or at the period's end)."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy.orm.exc import StaleDataError
from wtforms import RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from storefront import billing
from storefront.admin import bp
from storefront.admin.confirm import ActionCheck, ConfirmForm, confirmation_page, confirmed_action
from storefront.admin.payment_page import payment_or_404
from storefront.admin.subscription_page import subscription_or_404
from storefront.ending_words import refund_said
from storefront.extensions import db
from storefront.formatting import minor_unit, money
from storefront.models import Subscription, SubscriptionStatus

log = logging.getLogger(__name__)

# What becomes of the subscription when one of its payments is refunded (default: nothing).
ENDINGS = [SelectChoice("keep", lazy_gettext("Keeps running")),
           SelectChoice("period_end", lazy_gettext("Ends at the end of its period")),
           SelectChoice("now", lazy_gettext("Ends now"))]
WHEN = [SelectChoice("period_end", lazy_gettext("At the end of the period (no refund)")),
        SelectChoice("now", lazy_gettext("Now, with the refund below"))]


class RefundForm(ConfirmForm):
    """A refund's confirmation: the amount, and whether the subscription ends too."""

    amount = StringField(lazy_gettext("Amount to refund"))
    ending = RadioField(lazy_gettext("The subscription"), choices=ENDINGS, default="keep",
                        validators=[InputRequired(lazy_gettext("Choose what becomes of the subscription."))])


class CancelForm(ConfirmForm):
    """A cancellation's confirmation: when, and what is refunded with a cancel now."""

    when = RadioField(lazy_gettext("Cancel"), choices=WHEN,
                      validators=[InputRequired(lazy_gettext("Choose when the subscription ends."))])
    refund = StringField(lazy_gettext("Refund with a cancel now"))


def parse_amount(text: str | None) -> Decimal | None:
    """An amount as staff type it ("5,000", "4.50", "₩5,000"); None when it is not a number.
    Its checks (above zero, the currency's unit, the balance) are the refund's own."""
    cleaned = (text or "").strip().replace(",", "").lstrip("₩$").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def refused(form: ConfirmForm, page: Any, message: str, status: int = 400) -> tuple[Any, int]:
    """The confirmation page again with what was wrong; nothing of the action is kept (and
    nothing was sent to iamport: it is asked only after the commit)."""
    db.session.rollback()
    form.problem = message
    return page(), status


def committed(check: ActionCheck, detail: str) -> Any:
    """Commit the action with its audit entry; the "already done" page if the form won a
    moment earlier (everything written here is then undone)."""
    check.record("ok", detail=detail)
    return check.commit()


@bp.route("/payments/<int:payment_id>/refund", methods=["GET", "POST"])
def refund_payment(payment_id: int):
    """Refund a payment in full or in part, and, if staff choose, end its subscription."""
    payment = payment_or_404(payment_id)
    balance = billing.refundable_balance(payment)
    form = RefundForm()
    if not form.is_submitted():
        form.amount.data = str(balance) if minor_unit(payment.currency) < 1 else f"{balance:.0f}"

    def page():
        return confirmation_page(
            form, template="admin/refund.html", payment=payment, balance=balance,
            title=_("Refund payment %(order)s", order=payment.merchant_uid),
            question=_("The amount is given back to the card through iamport; the customer is "
                       "mailed once PAYMENTWALL confirms it."),
            submit=_("Refund"), back=url_for("admin.payment", payment_id=payment.id))

    check = confirmed_action(form, "refund", target_type="payment", target_id=payment.id, page=page)
    if check.answer is not None:
        return check.answer
    amount = parse_amount(form.amount.data)
    subscription = payment.subscription
    try:
        billing.refund_by_staff(payment, amount, check.reason, request_key=check.token)
        if form.ending.data != "keep" and subscription is not None:
            billing.write_cancel(subscription, at_period_end=form.ending.data == "period_end")
        answer = committed(check, f"{money(amount, payment.currency)}; subscription: {form.ending.data}")
    except billing.ActionRefused as exc:
        return refused(form, page, str(exc))
    except StaleDataError:  # the subscription's version moved on: another change got in first
        return refused(form, page, _("The subscription changed meanwhile; please look again."), 409)
    if answer is not None:
        return answer
    log.info("staff refund of %s %s on %s", amount, payment.currency, payment.merchant_uid)
    if subscription is not None:
        billing.carry_out(subscription.id)  # the cancel is asked of iamport now (else by reconcile)
    flash(_("The refund of %(amount)s is asked of iamport.", amount=money(amount, payment.currency)), "success")
    return redirect(url_for("admin.payment", payment_id=payment_id), 303)


def pro_rata_refund(subscription: Subscription) -> Decimal:
    """What a cancel now offers to refund: what billing.ending's rule refunds (withdrawal in
    full, else the unused whole days or nothing), as the shopper's own cancel now would."""
    return billing.refund_on_ending_now(subscription).total


def refund_parts(subscription: Subscription, amount: Decimal) -> list[tuple[Any, Decimal]]:
    """How staff's refund with a cancel now is made: the rule's own parts when staff kept its
    amount, else `amount` from the newest payments first (billing.split_refund)."""
    rule = billing.refund_on_ending_now(subscription)
    if amount == rule.total:
        return rule.parts
    return billing.split_refund(subscription, amount) if amount else []


@bp.route("/subscriptions/<int:subscription_id>/cancel", methods=["GET", "POST"])
def cancel_subscription(subscription_id: int):
    """Cancel a subscription at the customer's request, now or at the end of the period."""
    subscription = subscription_or_404(subscription_id)
    offered = pro_rata_refund(subscription) if subscription.status in billing.LIVE_STATUSES else Decimal(0)
    currency = subscription.plan.currency
    form = CancelForm()
    if not form.is_submitted():
        form.refund.data = str(offered) if minor_unit(currency) < 1 else f"{offered:.0f}"
        form.when.data = "period_end" if subscription.status == SubscriptionStatus.ACTIVE else "now"

    def page():
        return confirmation_page(
            form, template="admin/cancel.html", sub=subscription, offered=offered, currency=currency,
            rule=refund_said(billing.refund_on_ending_now(subscription)),
            title=_("Cancel subscription %(id)s for the customer", id=subscription.id),
            question=_("The customer is mailed as when they cancel themselves."),
            submit=_("Cancel the subscription"),
            back=url_for("admin.subscription", subscription_id=subscription.id))

    check = confirmed_action(form, "cancel", target_type="subscription", target_id=subscription.id,
                             page=page)
    if check.answer is not None:
        return check.answer
    now = form.when.data == "now"
    amount = parse_amount(form.refund.data) if now and (form.refund.data or "").strip() else Decimal(0)
    if amount is None or amount < 0:
        return refused(form, page, _("Enter the amount to refund as a number (0 for none)."))
    detail = f"{form.when.data}; refund {money(amount, currency)}"
    try:
        parts = refund_parts(subscription, amount) if now else []
        billing.write_cancel(subscription, at_period_end=not now)
        for payment, share in parts:
            billing.refund_by_staff(payment, share, check.reason, request_key=f"{check.token}:{payment.id}")
        answer = committed(check, detail)
    except billing.ActionRefused as exc:
        return refused(form, page, str(exc))
    except StaleDataError:  # the subscription's version moved on: another change got in first
        return refused(form, page, _("The subscription changed meanwhile; please look again."), 409)
    if answer is not None:
        return answer
    log.info("staff cancelled subscription %s (%s)", subscription_id, detail)
    billing.carry_out(subscription_id)
    flash(_("The subscription is cancelled; the customer is mailed."), "success")
    return redirect(url_for("admin.subscription", subscription_id=subscription_id), 303)

