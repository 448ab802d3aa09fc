"""The catalog: plans a shopper can subscribe to."""

from __future__ import annotations

import re
import time

from flask import Blueprint, abort, current_app, render_template, session
from flask_login import current_user

from storefront import billing
from storefront.extensions import db
from storefront.models import Plan, Subscription, SubscriptionStatus, utcnow
from storefront.periods import add_interval

bp = Blueprint("shop", __name__)

# What a slug can be; anything else (NUL, a huge string) is no plan and never reaches the database.
SLUG = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def active_plans() -> list[Plan]:
    """Active plans in catalog order."""
    return list(
        db.session.execute(
            db.select(Plan).where(Plan.active.is_(True)).order_by(Plan.sort_order, Plan.id)
        ).scalars()
    )


def get_active_plan(slug: str) -> Plan:
    """The active plan with this slug, or a 404."""
    plan = None
    if SLUG.match(slug):
        plan = db.session.execute(
            db.select(Plan).where(Plan.slug == slug, Plan.active.is_(True))
        ).scalar_one_or_none()
    if plan is None:
        abort(404, "We could not find that plan.")
    return plan


def current_plan_ids() -> set[int]:
    """Ids of the plans the logged-in user has a live subscription to."""
    if not current_user.is_authenticated:
        return set()
    live = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
    return set(
        db.session.execute(
            db.select(Subscription.plan_id).where(
                Subscription.user_id == current_user.id, Subscription.status.in_(live)
            )
        ).scalars()
    )


# The anonymous catalog is the same page for everyone, so it is rendered once per few seconds
# per worker; a plan change shows within that time.
CATALOG_TTL = 5.0


@bp.route("/")
def catalog():
    """List the active plans."""
    anonymous = not current_user.is_authenticated and "_flashes" not in session
    cache = current_app.extensions.setdefault("catalog_page", {})
    if anonymous:
        cached = cache.get("page")
        if cached and cached[0] > time.monotonic():
            return cached[1]
    page = render_template(
        "shop/catalog.html", plans=active_plans(), current_plan_ids=current_plan_ids()
    )
    if anonymous:
        cache["page"] = (time.monotonic() + CATALOG_TTL, page)
    return page


@bp.route("/plans/<slug>")
def plan(slug: str):
    """Show one plan and what subscribing to it charges."""
    plan = get_active_plan(slug)
    next_charge = add_interval(utcnow(), plan.interval)
    in_review = (current_user.is_authenticated
                 and billing.first_payment_in_review(current_user, plan) is not None)
    return render_template("shop/plan.html", plan=plan, next_charge=next_charge, in_review=in_review)
