"""A subscription's page in the back office: its customer, plan, card, consent, next renewal (asked of iamport on demand) and payments."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy.orm import joinedload

from storefront.admin import bp
from storefront.admin.timeline import timeline_of
from storefront.billing.schedules import schedule_status, scheduled_renewals
from storefront.extensions import db
from storefront.i18n import LANGUAGES
from storefront.iamport import IamportError
from storefront.models import EndedReason, Payment, Subscription

log = logging.getLogger(__name__)

# Why a subscription ended, as staff read it (the stored value stays English).
ENDED_REASONS = {
    EndedReason.CANCELLED: lazy_gettext("cancelled"),
    EndedReason.PAYMENT_FAILED: lazy_gettext("ended: payment failed"),
    EndedReason.WITHDRAWN: lazy_gettext("withdrawn (청약철회)"),
    EndedReason.PRICE_NOT_AGREED: lazy_gettext("ended: no consent to a price increase"),
}
# The query flag of the "Check at iamport" button: a GET, as asking changes nothing.
CHECK_FLAG = "iamport"


# What iamport's schedule_status of a renewal means, for staff.
SCHEDULE_STATUSES = {
    "scheduled": lazy_gettext("iamport holds this renewal's schedule and runs it when it is due."),
    "executed": lazy_gettext("iamport has run this renewal; its outcome is recorded from iamport's record."),
    "revoked": lazy_gettext("iamport's schedule of this renewal was withdrawn; reconcile sends another."),
}


@dataclass(frozen=True)
class ScheduleCheck:
    """What iamport answered when asked about the next renewal's schedule."""

    merchant_uid: str
    status: str | None = None  # iamport's schedule_status; None: it holds no schedule
    failed: bool = False  # iamport did not answer (or refused our keys)

    @property
    def message(self) -> str:
        if self.failed:
            return _("iamport did not answer; its schedule could not be checked. Please try "
                     "again in a minute.")
        if self.status is None:
            return _("iamport holds no schedule for this renewal.")
        return str(SCHEDULE_STATUSES.get(self.status)
                   or _("iamport's schedule status: %(status)s", status=self.status))

    @property
    def agrees(self) -> bool:
        """iamport holds the schedule we expect it to hold."""
        return not self.failed and self.status == "scheduled"


def subscription_or_404(subscription_id: int) -> Subscription:
    """The subscription with this id, its customer and plan loaded, or a 404 page."""
    found = db.session.get(
        Subscription, subscription_id,
        options=[joinedload(Subscription.user), joinedload(Subscription.plan)],
    )
    if found is None:
        abort(404, _("We could not find that subscription."))
    return found


def payments_of(subscription_id: int) -> list[Payment]:
    """Every payment row of the subscription, newest first (a renewal by the time it runs)."""
    return list(db.session.execute(
        db.select(Payment)
        .where(Payment.subscription_id == subscription_id)
        .order_by(Payment.occurred_at.desc(), Payment.id.desc())
    ).scalars())


def next_renewal(subscription_id: int) -> Payment | None:
    """The renewal scheduled next (the earliest scheduled one), if any."""
    rows = scheduled_renewals(subscription_id)
    return min(rows, key=lambda row: (row.scheduled_at is None, row.scheduled_at, row.id),
               default=None)


def check_at_iamport(renewal: Payment) -> ScheduleCheck:
    """Ask iamport, now, what it holds for the renewal's schedule; never raises."""
    merchant_uid = renewal.merchant_uid
    # No transaction stays open while iamport is asked.
    db.session.commit()
    try:
        return ScheduleCheck(merchant_uid, status=schedule_status(merchant_uid))
    except IamportError as exc:
        log.warning("back office: schedule of %s not checked: %s", merchant_uid, exc)
        return ScheduleCheck(merchant_uid, failed=True)


@bp.route("/subscriptions/<int:subscription_id>")
def subscription(subscription_id: int):
    """One subscription as staff see it; `?check=iamport` also asks iamport about the schedule."""
    sub = subscription_or_404(subscription_id)
    renewal = next_renewal(sub.id)
    check = None
    asked = request.args.get("check") == CHECK_FLAG
    if asked and renewal is not None:
        check = check_at_iamport(renewal)
        # Read again after the commit: the page shows the rows as they are now.
        sub = subscription_or_404(subscription_id)
        renewal = next_renewal(sub.id)
    return render_template(
        "admin/subscription.html", sub=sub, user=sub.user, renewal=renewal, check=check,
        nothing_to_check=asked and check is None, payments=payments_of(sub.id),
        language_name=LANGUAGES.get(sub.user.locale or ""),
        ended_reason=ENDED_REASONS.get(sub.ended_reason) if sub.ended_reason else None,
        check_flag=CHECK_FLAG,
        timeline=timeline_of(sub.id),
    )
