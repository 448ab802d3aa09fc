"""A shopper's plan change over HTTP on the served shop, and a subscription's period set to a known point for the prorations' tests."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import requests

from storefront import billing
from storefront.extensions import db
from storefront.models import Subscription
from tests.support.sandbox_requests import clock_now
from tests.support.shop import Shop, Shopper

CHANGE_TOKEN = re.compile(r'name="change_token" value="([^"]+)"')
CONSENT_VERSION = re.compile(r'name="consent_version" value="([^"]+)"')


def shop_now(shop: Shop) -> datetime:
    """The shop's now: the sandbox's clock."""
    return datetime.fromtimestamp(clock_now(shop.sandbox), timezone.utc)


def set_period(shop: Shop, sub_id: int, start: datetime, end: datetime) -> None:
    """Put the subscription's paid period at [start, end) and let iamport's schedule follow it
    (the old one withdrawn, one sent for the new end)."""
    with shop.context():
        sub = db.session.get(Subscription, sub_id)
        sub.current_period_start = start
        sub.current_period_end = end
        sub.billing_anchor = start
        db.session.commit()
        billing.carry_out(sub_id)


def confirmation_page(shopper: Shopper, sub_id: int, slug: str) -> requests.Response:
    """The plan change's confirmation page (which fixes the amount)."""
    return shopper.get(f"/account/subscriptions/{sub_id}/plans/{slug}")


def change_plan(shopper: Shopper, sub_id: int, slug: str, consent: bool = True,
                token: str | None = None) -> requests.Response:
    """Open the confirmation page of a change to `slug`, then confirm it (the redirect followed)."""
    page = confirmation_page(shopper, sub_id, slug)
    assert page.status_code == 200, page.text[:300]
    data = {"csrf_token": shopper.csrf(page.text),
            "change_token": token or CHANGE_TOKEN.search(page.text).group(1),
            "consent_version": CONSENT_VERSION.search(page.text).group(1)}
    if consent:
        data["consent"] = "yes"
    return shopper.http.post(f"{shopper.shop.url}/account/subscriptions/{sub_id}/plans/{slug}",
                             data=data, timeout=30)


def confirm_with_answer_lost(shop: Shop, shopper: Shopper, sub_id: int, slug: str,
                             page: requests.Response) -> requests.Response:
    """Submit a confirmation page already opened while iamport answers every call with an error:
    the charge's answer is lost, and it stays pending."""
    shop.sandbox.set_faults(error_rate=1)
    try:
        return shopper.post_form(f"/account/subscriptions/{sub_id}/plans/{slug}", {
            "change_token": CHANGE_TOKEN.search(page.text).group(1), "consent": "yes",
            "consent_version": CONSENT_VERSION.search(page.text).group(1)})
    finally:
        shop.sandbox.set_faults(error_rate=0)


def month_period_at(now: datetime, left: timedelta, length: timedelta = timedelta(days=30)) -> tuple[datetime, datetime]:
    """A period of `length` with `left` of it still to run at `now` (whole seconds)."""
    end = (now + left).replace(microsecond=0)
    return end - length, end


def iamport_scheduled(shop: Shop, customer_uid: str) -> list[dict]:
    """The schedules iamport (the sandbox) holds for the billing key, still to run."""
    now = clock_now(shop.sandbox)
    answer = shop.sandbox.api("GET", "/subscribe/payments/schedule", params={
        "schedule_from": now - 86400, "schedule_to": now + 88 * 86400,
        "schedule_status": "scheduled", "limit": 1000}).json()["response"]
    return [row for row in answer["list"] if row["customer_uid"] == customer_uid]


def plan_slug(shop: Shop, sub_id: int) -> str:
    """The slug of the subscription's plan as stored now."""
    with shop.context():
        return db.session.get(Subscription, sub_id).plan.slug
