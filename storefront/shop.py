"""The catalog: plans a shopper can subscribe to."""

from __future__ import annotations

import re

from flask import Blueprint, abort, make_response, render_template, request, session
from flask_babel import gettext as _
from flask_login import current_user

from storefront import clock
from storefront import billing
from storefront.extensions import db
from storefront.formatting import shop_zone
from storefront.models import Plan, Subscription
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
        abort(404, _("We could not find that plan."))
    return plan


def current_plan_ids() -> set[int]:
    """Ids of the plans the logged-in user has a live subscription to."""
    if not current_user.is_authenticated:
        return set()
    return set(
        db.session.execute(
            db.select(Subscription.plan_id).where(
                Subscription.user_id == current_user.id, Subscription.status.in_(billing.LIVE_STATUSES)
            )
        ).scalars()
    )


# The anonymous catalog is the same page for everyone: browsers and proxies may keep it this many
# seconds (a plan change shows within that time), then ask again with its ETag.
CATALOG_MAX_AGE = 5


@bp.route("/")
def catalog():
    """List the active plans."""
    # A page with a flashed message is one visitor's; a logged-in page is never cached (security.py).
    anonymous = not current_user.is_authenticated and "_flashes" not in session
    page = render_template(
        "shop/catalog.html", plans=active_plans(), current_plan_ids=current_plan_ids()
    )
    if not anonymous:
        return page
    response = make_response(page)
    response.cache_control.public = True
    response.cache_control.max_age = CATALOG_MAX_AGE
    # Logged-in visitors see another page at the same address, told apart by their cookie.
    response.vary.add("Cookie")
    response.add_etag()
    return response.make_conditional(request)


@bp.route("/plans/<slug>")
def plan(slug: str):
    """Show one plan and what subscribing to it charges."""
    plan = get_active_plan(slug)
    next_charge = add_interval(clock.now(), plan.interval, zone=shop_zone())
    logged_in = current_user.is_authenticated
    # A subscriber is told so (and sent to the account), not offered a checkout that bounces.
    subscribed = logged_in and billing.live_subscription(current_user, plan) is not None
    in_review = logged_in and billing.first_payment_in_review(current_user, plan) is not None
    # A subscriber to another plan changes plan instead of buying a second subscription.
    change_from = billing.any_live_subscription(current_user) if logged_in and not subscribed else None
    return render_template("shop/plan.html", plan=plan, next_charge=next_charge,
                           subscribed=subscribed, in_review=in_review, change_from=change_from)
