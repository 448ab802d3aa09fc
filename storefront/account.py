"""The shopper's account page."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from storefront.extensions import db
from storefront.models import Subscription

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("")
@login_required
def overview():
    """The user's details and subscriptions."""
    subscriptions = list(
        db.session.execute(
            db.select(Subscription)
            .where(Subscription.user_id == current_user.id)
            .order_by(Subscription.created_at.desc())
        ).scalars()
    )
    return render_template("account/overview.html", subscriptions=subscriptions)
