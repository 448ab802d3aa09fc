"""The back office's price change of a plan: a new price from a date at least 30 days ahead (shop time), confirmed and audited, and its withdrawal before that date."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms import DateField, StringField
from wtforms.validators import InputRequired, ValidationError

from storefront import clock
from storefront.admin import bp
from storefront.admin.confirm import ConfirmForm, confirmation_page, confirmed_action
from storefront.admin.plan_forms import checked_price
from storefront.admin.plans import plan_or_404
from storefront.billing import ensure_schedule, price_changes
from storefront.extensions import db
from storefront.formatting import date_long, money, shop_zone
from storefront.models import Plan, PlanPriceChange

log = logging.getLogger(__name__)

# 전자상거래법 시행령 §20조의2: subscribers are told at least 30 days before a price rises.
NOTICE_DAYS = 30


def shop_today() -> date:
    return clock.now().astimezone(shop_zone()).date()


class PriceChangeForm(ConfirmForm):
    """A new price and the date it applies from (shop time, midnight)."""

    new_price = StringField(lazy_gettext("New price"),
                            validators=[InputRequired(lazy_gettext("Please enter the price."))])
    effective_on = DateField(lazy_gettext("Applies from (date)"), validators=[
        InputRequired(lazy_gettext("Please enter the date the new price applies from."))])

    def __init__(self, *args, plan: Plan, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._plan = plan

    def validate_new_price(self, field: StringField) -> None:
        price = checked_price(field.data, self._plan.currency)
        if price == self._plan.price:
            raise ValidationError(_("That is the plan's price already."))
        field.data = price

    def validate_effective_on(self, field: DateField) -> None:
        earliest = shop_today() + timedelta(days=NOTICE_DAYS)
        if field.data < earliest:
            raise ValidationError(_("The new price must apply at least %(days)d days from today "
                                    "(shop time): on %(date)s or later, so that subscribers are "
                                    "told 30 days ahead.", days=NOTICE_DAYS,
                                    date=earliest.isoformat()))


def effective_moment(day: date) -> datetime:
    """The start of `day` in the shop's time zone."""
    return datetime(day.year, day.month, day.day, tzinfo=shop_zone())


@bp.route("/plans/<int:plan_id>/price", methods=["GET", "POST"])
def plan_price(plan_id: int):
    """Give a plan a new price from a date: new shoppers pay it from then, each subscriber from
    their first renewal on or after it (an increase only with their consent)."""
    plan = plan_or_404(plan_id)
    form = PriceChangeForm(plan=plan)
    pending = price_changes.pending_change(plan.id)

    def page():
        return confirmation_page(
            form, "admin/plan_price.html", plan=plan, pending=pending,
            title=_("Change the price of %(name)s", name=plan.shown_name),
            question=_("The new price applies to new shoppers from its date, and to each "
                       "subscriber from their first renewal on or after it. A higher price needs "
                       "each subscriber's consent: those who do not agree are not renewed."),
            submit=_("Change the price"), back=url_for("admin.plans"))

    check = confirmed_action(form, "plan_price_change", target_type="plan", target_id=plan.id,
                             page=page)
    if check.answer is not None:
        return check.answer
    if pending is not None:
        form.problem = _("This plan already has a price change pending: withdraw it first.")
        return page(), 400
    change = PlanPriceChange(plan_id=plan.id, old_price=plan.price, new_price=form.new_price.data,
                             effective_at=effective_moment(form.effective_on.data),
                             created_at=clock.now(), created_by_id=current_user.id,
                             created_by_email=current_user.email)
    db.session.add(change)
    check.record("ok", detail=f"{plan.slug}: {plan.price} → {change.new_price} {plan.currency} "
                              f"from {form.effective_on.data.isoformat()}")
    try:
        if (answer := check.commit()) is not None:
            return answer
    except IntegrityError:  # another change of the plan was saved a moment earlier
        db.session.rollback()
        form.problem = _("This plan already has a price change pending: withdraw it first.")
        return page(), 400
    log.info("plan %s: price %s -> %s from %s", plan.id, plan.price, change.new_price,
             change.effective_at)
    flash(_("%(name)s costs %(price)s from %(date)s.", name=plan.shown_name,
            price=money(change.new_price, plan.currency), date=date_long(change.effective_at)),
          "success")
    return redirect(url_for("admin.plans"), 303)


@bp.route("/plans/<int:plan_id>/price/withdraw", methods=["GET", "POST"])
def plan_price_withdraw(plan_id: int):
    """Withdraw a price change before its date: subscribers asked keep their price and their
    subscription."""
    plan = plan_or_404(plan_id)
    form = ConfirmForm()
    pending = price_changes.pending_change(plan.id)

    def page():
        return confirmation_page(
            form, "admin/plan_price.html", plan=plan, pending=pending, withdrawing=True,
            title=_("Withdraw the price change of %(name)s", name=plan.shown_name),
            question=_("Subscribers keep the price they pay; those who were asked keep their "
                       "subscription, and those who agreed go back to their old price."),
            submit=_("Withdraw the price change"), back=url_for("admin.plans"))

    check = confirmed_action(form, "plan_price_withdrawn", target_type="plan", target_id=plan.id,
                             page=page)
    if check.answer is not None:
        return check.answer
    if pending is None or pending.effective_at <= clock.now():
        form.problem = _("There is no price change to withdraw: it is in effect or was withdrawn.")
        return page(), 400
    touched = price_changes.withdraw_change(pending)
    check.record("ok", detail=f"{plan.slug}: {pending.old_price} → {pending.new_price} withdrawn")
    if (answer := check.commit()) is not None:
        return answer
    for subscription_id in touched:
        ensure_schedule(subscription_id)
    flash(_("The price change of %(name)s is withdrawn.", name=plan.shown_name), "success")
    return redirect(url_for("admin.plans"), 303)
