"""The back office's plans: subscribers per plan, a new plan, its texts in both languages, on sale or not."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from storefront.admin import bp
from storefront.admin.audit_log import record_action
from storefront.admin.plan_forms import PlanForm, PlanTextsForm, SaleForm
from storefront.billing import price_changes
from storefront.extensions import db
from storefront.models import Plan, Subscription, SubscriptionStatus

log = logging.getLogger(__name__)

# Who counts as a plan's subscriber on the list: those it serves now.
LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
# Whose price a change would touch: a checkout under way was opened at the price as well.
HOLDING = (SubscriptionStatus.INCOMPLETE, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


def plans_with_subscribers() -> list[tuple[Plan, int]]:
    """Every plan with its live subscribers, counted by one grouped query joined to the plans."""
    counts = (db.select(Subscription.plan_id, sa.func.count(Subscription.id).label("live"))
              .where(Subscription.status.in_(LIVE)).group_by(Subscription.plan_id).subquery())
    rows = db.session.execute(
        db.select(Plan, sa.func.coalesce(counts.c.live, 0))
        .outerjoin(counts, counts.c.plan_id == Plan.id)
        .order_by(Plan.sort_order, Plan.id))
    return [(plan, live) for plan, live in rows.all()]


def has_holders(plan: Plan) -> bool:
    """True when a subscription (live, or being bought) holds the plan at its price."""
    return db.session.execute(
        db.select(sa.func.count(Subscription.id))
        .where(Subscription.plan_id == plan.id, Subscription.status.in_(HOLDING))
    ).scalar_one() > 0


def plan_or_404(plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        abort(404)
    return plan


@bp.route("/plans")
def plans():
    """The plans, on sale or withdrawn, with their subscribers."""
    return render_template("admin/plans.html", rows=plans_with_subscribers(), sale_form=SaleForm(),
                           errors=[], pending=price_changes.pending_by_plan())


def _saved(plan: Plan, form: PlanTextsForm, action: str) -> bool:
    """Commit the plan with its audit entry; False (with the message on the slug) when another
    took its slug meanwhile."""
    try:
        db.session.flush()  # a new plan's id, for its entry
        record_action(action, target_type="plan", target_id=plan.id, outcome="ok",
                      detail=f"{plan.slug}: {plan.price} {plan.currency} / {plan.interval}")
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if isinstance(form, PlanForm):
            form.slug.errors = [*form.slug.errors, _("This slug is already taken by another plan.")]
        log.warning("plan %s not saved: the slug is taken", plan.slug)
        return False
    return True


@bp.route("/plans/new", methods=["GET", "POST"])
def plan_new():
    """Create a plan, in English and Korean; it goes on sale at once."""
    form = PlanForm()
    if form.validate_on_submit():
        last = db.session.execute(db.select(sa.func.max(Plan.sort_order))).scalar() or 0
        plan = Plan(active=True, sort_order=last + 1, translations={})
        form.apply_to(plan)
        db.session.add(plan)
        if _saved(plan, form, "plan_create"):
            log.info("plan %s (%s) created", plan.id, plan.slug)
            flash(_("The plan %(name)s is on sale.", name=plan.shown_name), "success")
            return redirect(url_for("admin.plans"))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/plan_form.html", form=form, plan=None, locked=False), status


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
def plan_edit(plan_id: int):
    """Change a plan's texts; its price, currency and interval too while nobody holds it."""
    plan = plan_or_404(plan_id)
    locked = has_holders(plan)
    form = PlanTextsForm() if locked else PlanForm(plan_id=plan.id)
    if request.method == "GET":
        form.fill_from(plan)
    elif form.validate_on_submit():
        form.apply_to(plan)
        if _saved(plan, form, "plan_edit"):
            log.info("plan %s (%s) edited", plan.id, plan.slug)
            flash(_("The plan %(name)s is saved.", name=plan.shown_name), "success")
            return redirect(url_for("admin.plans"))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/plan_form.html", form=form, plan=plan, locked=locked), status


@bp.route("/plans/<int:plan_id>/sale", methods=["POST"])
def plan_sale(plan_id: int):
    """Withdraw a plan from sale, or put it back; its subscribers keep it either way."""
    plan = plan_or_404(plan_id)
    form = SaleForm()
    if not form.validate_on_submit():
        problem = _("The plan was not changed: please use the buttons on this page.")
        return render_template("admin/plans.html", rows=plans_with_subscribers(),
                               sale_form=SaleForm(formdata=None), errors=[problem],
                               pending=price_changes.pending_by_plan()), 400
    plan.active = form.on_sale.data == "1"
    record_action("plan_on_sale" if plan.active else "plan_withdrawn", target_type="plan",
                  target_id=plan.id, outcome="ok", detail=plan.slug)
    db.session.commit()
    log.info("plan %s (%s) %s", plan.id, plan.slug, "on sale" if plan.active else "withdrawn")
    if plan.active:
        flash(_("The plan %(name)s is on sale again.", name=plan.shown_name), "success")
    else:
        flash(_("The plan %(name)s is withdrawn from sale; its subscribers keep it.",
                name=plan.shown_name), "success")
    return redirect(url_for("admin.plans"), 303)
