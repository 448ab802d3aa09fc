"""Soak: 200 subscriptions and 200 repeat charges through the storefront's routes while the
provider fails, hangs and mangles webhooks; afterwards our records must equal the provider's."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from storefront import billing
from storefront.config import ROOT
from storefront.extensions import db
from storefront.models import Payment, Subscription, utcnow
from tests.support.sandbox import start_sandbox, window_result
from tests.support.shop import Shop, Shopper, make_shop

SUBSCRIPTIONS = 210
WORKERS = 24
DEADLINE = 150  # seconds; the soak stops starting new work after this


@pytest.fixture
def soak_shop(tmp_path):
    sandbox = start_sandbox(tmp_path / "soak-sandbox.sqlite3", SANDBOX_PINGBACK_DELAY=0.3)
    shop = make_shop(tmp_path, sandbox, IAMPORT_READ_TIMEOUT=1.5, IAMPORT_READ_RETRIES=2)
    yield shop
    shop.stop()
    sandbox.stop()


def _retry(action, attempts=6):
    """What a patient shopper does when a page says the provider is not answering."""
    for _ in range(attempts):
        response = action()
        if response.status_code < 500:
            return response
        time.sleep(0.2)
    return response


def subscribe_one(shop: Shop, i: int, started: float) -> str | None:
    """One shopper: sign up, open the checkout, pay in the window, send the callback."""
    if time.monotonic() - started > DEADLINE:
        return None
    shopper = shop.shopper(email=f"soak{i}@example.com", first="Soak", last=f"Tester{i}")
    page = _retry(lambda: shopper.get("/checkout/basic-monthly"))
    if page.status_code != 200:
        return None
    params = shopper.checkout_page()
    # Opening the order registers it with iamport (prepare), which the faults may make fail.
    opened = _retry(lambda: shopper.open_order(params))
    if opened.status_code != 200:
        return None
    params.update(opened.json())
    mode = "mobile" if i % 2 else "pc"
    response = shopper.pay_in_window(params, mode=mode)
    if mode == "pc":
        shopper.complete(params, window_result(response.text)["imp_uid"])
    else:
        shopper.http.get(response.headers["Location"], timeout=30)
    return params["pay"]["merchant_uid"]


def charge_one(shop: Shop, shopper_index: int, sub_id: int) -> None:
    """The owner of a subscription logs in again and presses "Charge now" once."""
    owner = _login(shop, f"soak{shopper_index}@example.com")
    _retry(lambda: owner.charge_now(sub_id, follow=False))


def _login(shop: Shop, email: str) -> Shopper:
    http = requests.Session()
    shop.sessions.append(http)
    shopper = Shopper(shop, http, email)
    page = http.get(f"{shop.url}/auth/login", timeout=10)
    http.post(f"{shop.url}/auth/login", data={"csrf_token": shopper.csrf(page.text),
              "email": email, "password": "correct horse"}, timeout=10)
    return shopper


def test_soak_with_provider_faults(soak_shop, capsys):
    shop = soak_shop
    shop.sandbox.set_faults(error_rate=0.2, hang_rate=0.1, hang_seconds=2.0)
    shop.sandbox.set_webhooks(delay=0.3, drop_rate=0.2, duplicate_rate=0.2, reorder=True,
                              reorder_window=0.5)
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        orders = [m for m in pool.map(lambda i: subscribe_one(shop, i, started),
                                      range(SUBSCRIPTIONS)) if m]
    # Billing keys need PAYMENTWALL's pingback; reconcile confirms those whose webhook was lost.
    time.sleep(1.0)
    with shop.context():
        billing.reconcile(min_age=timedelta(0))
        owners = {
            sub.id: int(sub.user.email.removeprefix("soak").split("@")[0])
            for sub in db.session.execute(db.select(Subscription).where(
                Subscription.billing_key_ready_at.is_not(None),
                Subscription.status == "active")).scalars()
        }
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda item: charge_one(shop, item[1], item[0]), owners.items()))
    faulty_seconds = time.monotonic() - started

    shop.sandbox.set_faults(error_rate=0.0, hang_rate=0.0)
    shop.sandbox.set_webhooks(delay=0.0, drop_rate=0.0, duplicate_rate=0.0, reorder=False)
    time.sleep(1.0)
    with shop.context():
        # Hours later: orders and charges iamport never received count as not made.
        later = utcnow() + timedelta(hours=3)
        first = billing.reconcile(min_age=timedelta(0))
        second = billing.reconcile(now=later, min_age=timedelta(0))
        ours = {p.merchant_uid: p for p in db.session.execute(
            db.select(Payment).where(Payment.kind.in_(["first", "repeat"]))).scalars()}
        for payment in ours.values():
            db.session.expunge(payment)

    store = shop.sandbox.sandbox.store
    theirs = {uid: store.payments_for_merchant_uid(uid) for uid in ours}
    paid_there = {uid for uid, rows in theirs.items() if any(r["status"] == "paid" for r in rows)}
    paid_twice = [uid for uid, rows in theirs.items() if sum(r["status"] == "paid" for r in rows) > 1]
    paid_here = {uid for uid, p in ours.items() if p.status == "paid"}
    pending_here = [uid for uid, p in ours.items() if p.status in ("pending", "review")]
    missing = sorted(paid_there - paid_here)
    phantom = sorted(paid_here - paid_there)
    kinds = Counter((p.kind, p.status) for p in ours.values())
    figures = {
        "subscriptions_attempted": SUBSCRIPTIONS, "subscriptions_paid": kinds[("first", "paid")],
        "repeat_charges_attempted": len(owners), "repeat_charges_paid": kinds[("repeat", "paid")],
        "repeat_charges_failed": kinds[("repeat", "failed")],
        "paid_at_provider": len(paid_there), "paid_here": len(paid_here),
        "missing_here": len(missing), "paid_here_not_there": len(phantom),
        "charged_twice": len(paid_twice), "left_pending": len(pending_here),
        "reconcile_settled": first.settled + second.settled, "reconcile_abandoned": second.abandoned,
        "seconds_under_faults": round(faulty_seconds, 1),
    }
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "soak.json").write_text(json.dumps(figures, indent=2))
    with capsys.disabled():
        print("\nsoak:", ", ".join(f"{k}={v}" for k, v in figures.items()))
    assert len(orders) >= SUBSCRIPTIONS * 0.95, figures
    assert figures["subscriptions_paid"] >= SUBSCRIPTIONS * 0.95, figures
    assert len(owners) >= 200, figures
    assert missing == [] and phantom == [] and paid_twice == [] and pending_here == [], figures
