"""The schedule audit: page through what iamport lists and compare it with the renewals we recorded it took."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from storefront.billing.common import client, move_payment
from storefront.billing.events import record_for_order
from storefront.billing.schedules import schedule_status
from storefront.extensions import db
from storefront.iamport import IamportError
from storefront.models import Payment, PaymentKind, PaymentStatus

log = logging.getLogger(__name__)

# iamport lists the schedules of at most three months at once, and at most 1,000 per page.
LISTING_SPAN = timedelta(days=89)
LISTING_PAGE = 1000


def taken_renewals() -> dict[str, datetime]:
    """Every scheduled renewal iamport took, by order id, with the time it is due."""
    rows = db.session.execute(
        db.select(Payment.merchant_uid, Payment.scheduled_at).where(
            Payment.kind == PaymentKind.RENEWAL,
            Payment.status == PaymentStatus.SCHEDULED,
            Payment.schedule_taken_at.is_not(None),
            Payment.scheduled_at.is_not(None),
        )
    ).all()
    db.session.commit()
    return {merchant_uid: scheduled_at for merchant_uid, scheduled_at in rows}


def listing_spans(times: list[datetime]) -> list[tuple[datetime, datetime]]:
    """The fewest spans iamport may list that cover all the times, each begun at one of them
    (so that no call lists an empty stretch)."""
    spans: list[tuple[datetime, datetime]] = []
    for due in sorted(times):
        if not spans or due > spans[-1][1]:
            spans.append((due, due + LISTING_SPAN))
    return spans


def listed_schedules(start: datetime, end: datetime) -> Iterator[dict]:
    """Every schedule iamport lists as due from `start` to `end`, page after page."""
    page = 1
    while page:
        listing = client().list_schedules(start, end, page=page, limit=LISTING_PAGE)
        yield from listing.get("list") or []
        page = int(listing.get("next") or 0)


def statuses_at_iamport(taken: dict[str, datetime]) -> dict[str, str]:
    """iamport's schedule_status of each renewal in `taken` that its listing shows.

    Raises IamportError when a page does not come: nothing is concluded from a listing cut short.
    """
    statuses: dict[str, str] = {}
    for start, end in listing_spans(list(taken.values())):
        for schedule in listed_schedules(start, end):
            merchant_uid = schedule.get("merchant_uid")
            if merchant_uid in taken:
                statuses[merchant_uid] = str(schedule.get("schedule_status"))
    return statuses


def record_schedule_status(merchant_uid: str, status: str | None) -> str | None:
    """Record what iamport's schedule_status says of a renewal scheduled here: "revoked" (it
    is recorded revoked, and reconcile schedules another) or "lost" (no schedule: back to the
    outbox, to be sent again) when that changed it, else None. "executed": iamport ran it, and
    its outcome is looked up once it is due."""
    change = None
    if status == "revoked":
        if move_payment(merchant_uid, PaymentStatus.SCHEDULED, PaymentStatus.REVOKED):
            record_for_order(merchant_uid, "schedule_withdrawn", by="iamport")
            change = "revoked"
    elif status is None:
        log.warning("iamport holds no schedule for renewal %s; sending it again", merchant_uid)
        if move_payment(merchant_uid, PaymentStatus.SCHEDULED, PaymentStatus.SCHEDULED,
                        schedule_taken_at=None):
            change = "lost"
    db.session.commit()
    return change


def audit_schedules() -> tuple[int, int, list[str]]:
    """Check that iamport still holds every schedule we recorded it took. A renewal iamport
    revoked is recorded revoked (reconcile then schedules another); one it lost goes back to
    the outbox, to be sent again. Returns (revoked, lost, failures)."""
    taken = taken_renewals()
    try:
        statuses = statuses_at_iamport(taken)
    except IamportError as exc:
        return 0, 0, [f"schedule listing: {exc}"]
    revoked = lost = 0
    failures: list[str] = []
    for merchant_uid in sorted(taken):
        status = statuses.get(merchant_uid)
        if status is None:
            # Not listed: looked up alone, so that a schedule added or moved while the pages
            # were read is not taken for lost on the listing's word alone.
            try:
                status = schedule_status(merchant_uid)
            except IamportError as exc:
                failures.append(f"schedule {merchant_uid}: {exc}")
                continue
        change = record_schedule_status(merchant_uid, status)
        if change == "revoked":
            revoked += 1
        elif change == "lost":
            lost += 1
    return revoked, lost, failures
