"""The back office's first page: what staff look at first."""

from __future__ import annotations

from flask import render_template

from storefront.admin import bp
from storefront.extensions import db
from storefront.models import Subscription, SubscriptionStatus


# "/admin" and "/admin/" alike: a redirect from one to the other would answer strangers too.
@bp.route("", strict_slashes=False)
def dashboard():
    """Counts of live subscriptions by status."""
    counts = dict(db.session.execute(
        db.select(Subscription.status, db.func.count())
        .where(Subscription.status.in_([SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE]))
        .group_by(Subscription.status)
    ).all())
    return render_template("admin/dashboard.html",
                           active=counts.get(SubscriptionStatus.ACTIVE, 0),
                           past_due=counts.get(SubscriptionStatus.PAST_DUE, 0))
