"""(5) Reconcile: REST calls and time of one run over settled subscriptions, with and without the
audit of what iamport holds, over unsettled ones, and over abandoned checkouts.

A settled subscription is one reconcile has nothing to do for: active, its billing key ready, its
first payment paid, and one scheduled renewal for the next period that iamport took (and, in this
sandbox, holds). An unsettled one is work reconcile must do: half are renewals recorded as
scheduled that iamport never took (the process died before sending them), half first payments
left pending whose payment iamport holds as paid (the webhook was lost).

An abandoned checkout is a first payment whose window was opened and left: the shop holds it
pending, iamport as `ready`, and it is older than ABANDON_AFTER, so the next run looks it up one
last time and closes it; after that it must cost nothing.

One shop grows through the scenarios, so that each subscription is seeded once: N settled, then
U unsettled on top (the run settles them; a second run shows the cost falls back), then settled
ones up to the large size, run once without and once with the audit; then A abandoned checkouts,
run once (their last lookup) and once more (past it). Only the run is timed; every run gets a
fresh app, so that it asks for its own token as a cron job's process does.

Seeding (not timed): one billing key is issued through the sandbox's payment window, then copied
into the sandbox's store under each subscription's customer_uid (PAYMENTWALL issues a key only
with a payment, so the REST API cannot create one); the storefront's rows are written with the
ORM in chunks; each settled renewal's schedule is sent over the REST API
(`POST /subscribe/payments/schedule`), as the shop does. The unsettled first payments are opened
by the shop's own checkout (`open_checkout`, which prepares them at iamport) and paid in the
window with no webhook URL. The abandoned checkouts are written straight into both stores (the
shop's order and subscription with the ORM, iamport's `ready` payment into the sandbox's), as
the keys are. PUBLIC_URL names no host (`.invalid`): no storefront is served here, so nothing
iamport is given (a schedule's notice_url) may point at someone else's shop on this machine.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import math
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from bench.common import (
    HTTP_TIMEOUT,
    RequestCounter,
    Stopwatch,
    intervals_later,
    machine_info,
    machine_line,
    prepare_database,
    print_table,
    setup_logging,
    start_counted_sandbox,
    storefront_app,
    storefront_database,
    storefront_env,
    wait_for,
    write_results,
)

log = logging.getLogger("bench.reconcile")

NAME = "reconcile"
PLAN = "basic-monthly"
GOAL_CALLS = 5
GOAL_AUDIT_CALLS_PER_1000 = 1.0
TOKEN_CALL = "POST getToken"
LIST_CALL = "GET subscribe/payments/schedule"
PAID_LIST_CALL = "GET payments/status/paid"
# The audit lists iamport's paid payments 100 a page (storefront/billing/payment_audit.py).
PAID_PAGE = 100
GOAL_ABANDONED_CALLS = 0
ABANDONED = 10_000
PUBLIC_URL = "http://bench-reconcile.invalid"
# Rows written per commit, and threads sending the settled renewals' schedules while seeding.
CHUNK = 2000
SEND_THREADS = 4
# How long ago the unsettled rows were written: older than RECONCILE_MIN_AGE, as cron finds them.
UNSETTLED_AGE = timedelta(hours=1)


@dataclass
class Shop:
    """The shop being measured: its settings, the counted sandbox and the template billing key."""

    env: dict[str, str]
    sandbox: Any
    counter: RequestCounter
    sandbox_db: Path
    key: tuple[dict, dict]
    serial: int = 0

    def next_tag(self, prefix: str) -> str:
        """A prefix unique to one batch of seeded rows (e-mails and ids never collide)."""
        self.serial += 1
        return f"{prefix}{self.serial}"


# --------------------------------------------------------------------------- seeding


def api_token(sandbox: Any, http: requests.Session) -> str:
    """An access token of the shop's API key."""
    answer = http.post(f"{sandbox.url}/users/getToken", timeout=HTTP_TIMEOUT,
                       json={"imp_key": sandbox.api_key, "imp_secret": sandbox.api_secret})
    answer.raise_for_status()
    return answer.json()["response"]["access_token"]


def pay_in_window(sandbox: Any, params: dict) -> dict:
    """Pay in the sandbox's window with the good test card; the window's rsp."""
    rsp = sandbox.pay(params)
    if not rsp["success"]:
        raise RuntimeError(f"window payment {params['merchant_uid']} failed: {rsp}")
    return rsp


def wait_for_pingbacks(sandbox: Any) -> None:
    """Wait until PAYMENTWALL's pingbacks made every issued key chargeable."""
    store = sandbox.sandbox.store
    wait_for(lambda: not store.jobs_pending("pingback"), timeout=120, what="the billing keys' pingbacks")


def template_key(sandbox: Any) -> tuple[dict, dict]:
    """One billing key issued by a window payment: the sandbox's record of it and its notes."""
    from tests.support.sandbox import checkout_params

    customer_uid = f"cu_template_{secrets.token_hex(6)}"
    pay_in_window(sandbox, checkout_params(customer_uid=customer_uid, buyer_email="template@example.com",
                                           buyer_name="Bench Template", notice_url=None))
    wait_for_pingbacks(sandbox)
    found = sandbox.sandbox.store.customer_get(customer_uid)
    if found is None:
        raise RuntimeError("the template billing key was not issued")
    return found


def copy_keys(shop: Shop, buyers: Iterable[tuple[str, str, str]]) -> None:
    """Give the sandbox a chargeable key per (customer_uid, e-mail, name), copied from the template."""
    customer, meta = shop.key
    store = shop.sandbox.sandbox.store
    with store.tx():
        for customer_uid, email, name in buyers:
            store.customer_save({**customer, "customer_uid": customer_uid, "customer_email": email,
                                 "customer_name": name}, meta)


def carry_out_now(shop: Shop, schedules: list[tuple[str, dict]]) -> None:
    """Send each (customer_uid, schedule) over the REST API, a few at a time."""
    local = threading.local()

    def session() -> tuple[requests.Session, str]:
        if not hasattr(local, "http"):
            local.http = requests.Session()
            local.token = api_token(shop.sandbox, local.http)
        return local.http, local.token

    def send(item: tuple[str, dict]) -> None:
        http, token = session()
        customer_uid, schedule = item
        answer = http.post(f"{shop.sandbox.url}/subscribe/payments/schedule", timeout=HTTP_TIMEOUT,
                           headers={"Authorization": f"Bearer {token}"},
                           json={"customer_uid": customer_uid, "schedules": [schedule]})
        body = answer.json()
        if answer.status_code != 200 or body.get("code") != 0:
            raise RuntimeError(f"schedule {schedule['merchant_uid']} refused: {body}")

    with ThreadPoolExecutor(max_workers=SEND_THREADS) as pool:
        list(pool.map(send, schedules))


def seed_subscriptions(shop: Shop, n: int, *, taken: bool) -> None:
    """N active subscriptions, each with its key, its paid first payment and its next renewal
    scheduled; `taken`: iamport took (and holds) the schedule, else it was never sent."""
    from werkzeug.security import generate_password_hash

    from storefront.extensions import db
    from storefront.formatting import amount_for_sdk
    from storefront.models import Payment, Plan, Subscription, User, utcnow

    tag = shop.next_tag("settled" if taken else "unsent")
    app = storefront_app(shop.env)
    # Older code has no such column: there every scheduled renewal is checked at iamport.
    has_taken_at = hasattr(Payment, "schedule_taken_at")
    password_hash = generate_password_hash("bench password", method="pbkdf2:sha256:1000")
    customer, _ = shop.key
    with app.app_context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == PLAN)).scalar_one()
        # Read once: the session is emptied after each chunk.
        plan_id, price, currency, name, interval = plan.id, plan.price, plan.currency, plan.name, plan.interval
        # Whole seconds, as iamport keeps a schedule's time.
        now = utcnow().replace(microsecond=0)
        if not taken:
            now -= UNSETTLED_AGE
        period_end = intervals_later(now, interval)
        for first in range(0, n, CHUNK):
            buyers, schedules, rows = [], [], []
            for i in range(first, min(first + CHUNK, n)):
                user = User(email=f"{tag}.{i}@example.com", first_name="Bench", last_name=f"Shopper{i}",
                            password_hash=password_hash)
                customer_uid = f"cu_{tag}_{i}_{secrets.token_hex(6)}"
                sub = Subscription(
                    user=user, plan_id=plan_id, status="active", customer_uid=customer_uid,
                    buyer_email=user.email, buyer_name=user.buyer_name, billing_key_ready_at=now,
                    card_name=customer["card_name"], card_number=customer["card_number"],
                    current_period_start=now, current_period_end=period_end, billing_anchor=now,
                    created_at=now, updated_at=now,
                )
                paid = Payment(
                    merchant_uid=f"ord_{now:%Y%m%d}_{secrets.token_hex(8)}",
                    imp_uid=f"imp_{tag}_{i}_{secrets.token_hex(6)}", user=user, subscription=sub,
                    amount=price, currency=currency, kind="first", status="paid",
                    customer_uid=customer_uid, paid_at=now, created_at=now, updated_at=now,
                )
                renewal = Payment(
                    merchant_uid=f"ren_{now:%Y%m%d}_{secrets.token_hex(8)}", user=user, subscription=sub,
                    amount=price, currency=currency, kind="renewal", status="scheduled",
                    customer_uid=customer_uid, scheduled_at=period_end, period_start=period_end,
                    attempt=0, created_at=now, updated_at=now,
                    **({"schedule_taken_at": now if taken else None} if has_taken_at else {}),
                )
                rows += [user, sub, paid, renewal]
                buyers.append((customer_uid, user.email, user.buyer_name))
                schedules.append((customer_uid, {
                    "merchant_uid": renewal.merchant_uid, "schedule_at": int(period_end.timestamp()),
                    "amount": amount_for_sdk(price), "currency": currency, "name": name[:40],
                    "buyer_email": user.email, "buyer_name": user.buyer_name,
                }))
            db.session.add_all(rows)
            db.session.commit()
            db.session.expunge_all()
            copy_keys(shop, buyers)
            if taken:
                carry_out_now(shop, schedules)
        db.session.remove()
        db.engine.dispose()


def seed_pending_first_payments(shop: Shop, n: int) -> None:
    """N checkouts paid in the window whose webhook never came: the shop holds them pending,
    iamport as paid."""
    from werkzeug.security import generate_password_hash

    from storefront import billing
    from storefront.payment_window import CONSENT_VERSION
    from storefront.extensions import db
    from storefront.formatting import amount_for_sdk
    from storefront.models import Payment, Plan, User
    from tests.support.sandbox import checkout_params

    tag = shop.next_tag("pending")
    app = storefront_app(shop.env)
    password_hash = generate_password_hash("bench password", method="pbkdf2:sha256:1000")
    with app.app_context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == PLAN)).scalar_one()
        users = [User(email=f"{tag}.{i}@example.com", first_name="Bench", last_name=f"Buyer{i}",
                      password_hash=password_hash) for i in range(n)]
        db.session.add_all(users)
        db.session.commit()
        opened = []
        for user in users:
            # The shop's own checkout: the pending order, prepared at iamport.
            payment = billing.open_checkout(user, plan, CONSENT_VERSION)
            opened.append(payment.id)
            pay_in_window(shop.sandbox, checkout_params(
                merchant_uid=payment.merchant_uid, customer_uid=payment.customer_uid,
                amount=amount_for_sdk(payment.amount), currency=payment.currency, name=plan.name[:40],
                buyer_email=user.email, buyer_name=user.buyer_name, notice_url=None,
            ))
        # Written a while ago, as a cron run finds a lost webhook's payment.
        for payment in db.session.execute(db.select(Payment).where(Payment.id.in_(opened))).scalars():
            payment.created_at -= UNSETTLED_AGE
            payment.updated_at = payment.created_at
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    wait_for_pingbacks(shop.sandbox)


def seed_abandoned_checkouts(shop: Shop, n: int) -> bool:
    """N checkouts whose window was opened and left, ABANDON_AFTER ago and more: the shop holds
    each order pending (with its incomplete subscription), iamport a `ready` payment for it.
    False, and nothing seeded, on code that never closes an abandoned order."""
    from werkzeug.security import generate_password_hash

    from sandbox.payments import payment_template
    from storefront.extensions import db
    from storefront.formatting import amount_for_sdk
    from storefront.models import Payment, Plan, Subscription, User, utcnow

    app = storefront_app(shop.env)
    if "ABANDON_AFTER" not in app.config:
        return False
    tag = shop.next_tag("abandoned")
    password_hash = generate_password_hash("bench password", method="pbkdf2:sha256:1000")
    store = shop.sandbox.sandbox.store
    with app.app_context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == PLAN)).scalar_one()
        plan_id, price, currency, name = plan.id, plan.price, plan.currency, plan.name
        # Past the last lookup's age, whole seconds as iamport keeps times.
        opened = (utcnow() - app.config["ABANDON_AFTER"]["first"] - UNSETTLED_AGE).replace(microsecond=0)
        for first in range(0, n, CHUNK):
            rows, ready = [], []
            for i in range(first, min(first + CHUNK, n)):
                user = User(email=f"{tag}.{i}@example.com", first_name="Bench", last_name=f"Leaver{i}",
                            password_hash=password_hash)
                sub = Subscription(user=user, plan_id=plan_id, status="incomplete", created_at=opened,
                                   updated_at=opened)
                order = Payment(merchant_uid=f"sub_{opened:%Y%m%d}_{secrets.token_hex(8)}", user=user,
                                subscription=sub, amount=price, currency=currency, kind="first",
                                status="pending", customer_uid=f"cu_{tag}_{i}_{secrets.token_hex(6)}",
                                created_at=opened, updated_at=opened)
                rows += [user, sub, order]
                ready.append({**payment_template(), "imp_uid": f"imp_{tag}_{i}_{secrets.token_hex(4)}",
                              "merchant_uid": order.merchant_uid, "status": "ready", "channel": "pc",
                              "name": name[:40], "amount": amount_for_sdk(price), "currency": currency,
                              "buyer_email": user.email, "buyer_name": user.buyer_name,
                              "customer_uid": order.customer_uid, "started_at": int(opened.timestamp())})
            db.session.add_all(rows)
            db.session.commit()
            db.session.expunge_all()
            with store.tx():
                for payment in ready:
                    store.payment_save(payment, {})
        db.session.remove()
        db.engine.dispose()
    return True


# --------------------------------------------------------------------------- what the shop holds


def sandbox_scheduled(sandbox_db: Path) -> set[str]:
    """The merchant_uids of the schedules the sandbox holds and has not run."""
    with sqlite3.connect(f"file:{sandbox_db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute("SELECT merchant_uid FROM schedules WHERE schedule_status = 'scheduled'")
        return {merchant_uid for (merchant_uid,) in rows}


def shop_state(shop: Shop, engine: sa.Engine) -> dict[str, int]:
    """Live subscriptions, those with a scheduled renewal for the next period that the sandbox
    holds (settled), and first payments still pending."""
    with engine.connect() as conn:
        live = conn.execute(sa.text("SELECT count(*) FROM subscriptions WHERE status = 'active'")).scalar_one()
        renewals = conn.execute(sa.text(
            "SELECT p.merchant_uid FROM payments p JOIN subscriptions s ON s.id = p.subscription_id "
            "WHERE s.status = 'active' AND p.kind = 'renewal' AND p.status = 'scheduled' "
            "AND p.period_start = s.current_period_end"
        )).scalars().all()
        pending = conn.execute(sa.text(
            "SELECT count(*) FROM payments WHERE kind = 'first' AND status = 'pending'")).scalar_one()
    held = sandbox_scheduled(shop.sandbox_db)
    with sqlite3.connect(f"file:{shop.sandbox_db}?mode=ro", uri=True, timeout=30) as conn:
        paid = conn.execute("SELECT count(*) FROM payments WHERE status = 'paid'").fetchone()[0]
    return {"live_subscriptions": live, "scheduled_renewals": len(renewals),
            "settled": sum(1 for m in renewals if m in held), "first_payments_pending": pending,
            "schedules_held_by_iamport": len(held), "paid_at_iamport": paid}


# --------------------------------------------------------------------------- one run


def accepts_audit() -> bool:
    """Whether this code's reconcile has an audit of what iamport holds."""
    from storefront import billing

    return "audit" in inspect.signature(billing.reconcile).parameters


def reconcile_run(shop: Shop, engine: sa.Engine, label: str, settled: int, unsettled: int,
                  audit: bool = False, abandoned: int = 0) -> dict[str, Any]:
    """One timed reconcile run in a fresh app (its own token, as a cron job's process)."""
    from storefront import billing

    app = storefront_app(shop.env)
    before_state = shop_state(shop, engine)
    watch = Stopwatch()
    with app.app_context():
        before = shop.counter.snapshot()
        with watch:
            report = billing.reconcile(**({"audit": True} if audit else {}))
        calls = RequestCounter.since(before, shop.counter.snapshot())
        from storefront.extensions import db

        db.session.remove()
        db.engine.dispose()
    after = shop_state(shop, engine)
    total = sum(calls.values())
    log.info("%s: %d REST calls in %.2f s", label, total, watch.seconds)
    rows = settled + unsettled + abandoned
    result = {
        "label": label, "settled": settled, "unsettled": unsettled, "abandoned": abandoned,
        "audit": audit, "rest_calls": total, "rest_calls_by_endpoint": calls,
        "rest_calls_without_token": total - calls.get(TOKEN_CALL, 0),
        "calls_per_subscription": round(total / rows, 3),
        "seconds": round(watch.seconds, 3),
        "ms_per_subscription": round(watch.seconds / rows * 1000, 3),
        "report": asdict(report) if hasattr(report, "__dataclass_fields__") else repr(report),
        "before": before_state, "after": after,
    }
    if audit:
        held = before_state["schedules_held_by_iamport"]
        result["listing_calls"] = calls.get(LIST_CALL, 0)
        # A page holds at most 1,000 schedules: the fewest calls that can list them all.
        result["listing_pages_needed"] = max(1, math.ceil(held / 1000))
        result["listing_calls_per_1000_schedules"] = round(calls.get(LIST_CALL, 0) / (held / 1000), 2)
        # And iamport's paid payments of the last 90 days, PAID_PAGE a page (where the code has
        # that audit: older code makes no such call).
        result["paid_listing_calls"] = calls.get(PAID_LIST_CALL, 0)
        result["paid_listing_pages_needed"] = max(1, math.ceil(before_state["paid_at_iamport"] / PAID_PAGE))
    return result


# --------------------------------------------------------------------------- the benchmark


def run(small: int = 1000, large: int = 10_000, unsettled: int = 100, abandoned: int = ABANDONED,
        db: str = "sqlite", smoke: bool = False) -> dict[str, Any]:
    """Run the benchmark, print its table and write bench/results/reconcile.json."""
    if large < small + unsettled:
        raise ValueError("the large shop holds the small one and its settled unsettled ones")
    machine = machine_info()
    audit = accepts_audit()
    seeding: dict[str, float] = {}
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp, ExitStack() as stack:
        tmp_path = Path(tmp)
        sandbox_db = tmp_path / "sandbox.sqlite3"
        sandbox, counter = start_counted_sandbox(sandbox_db, SANDBOX_PINGBACK_DELAY=0, SANDBOX_TICK=0.2)
        stack.callback(sandbox.stop)
        database = stack.enter_context(storefront_database(db, tmp_path))
        env = storefront_env(database.url, sandbox=sandbox, public_url=PUBLIC_URL)
        prepare_database(env)
        engine = sa.create_engine(database.url, pool_size=1)
        stack.callback(engine.dispose)

        def seeded(what: str, work, *args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            work(*args, **kwargs)
            seeding[what] = round(time.perf_counter() - started, 1)
            log.info("seeded %s in %.1f s", what, seeding[what])

        shop = Shop(env=env, sandbox=sandbox, counter=counter, sandbox_db=sandbox_db, key=template_key(sandbox))
        seeded(f"{small:,} settled", seed_subscriptions, shop, small, taken=True)
        database.settle()
        results.append(reconcile_run(shop, engine, f"settled {small:,}", small, 0))

        unsent = unsettled // 2
        seeded(f"{unsent} renewals never sent", seed_subscriptions, shop, unsent, taken=False)
        seeded(f"{unsettled - unsent} first payments pending", seed_pending_first_payments, shop,
               unsettled - unsent)
        database.settle()
        results.append(reconcile_run(shop, engine, f"{small:,} settled + {unsettled} unsettled",
                                     small, unsettled))
        results.append(reconcile_run(shop, engine, f"the next run ({small + unsettled:,} settled)",
                                     small + unsettled, 0))

        more = large - small - unsettled
        seeded(f"{more:,} more settled", seed_subscriptions, shop, more, taken=True)
        database.settle()
        results.append(reconcile_run(shop, engine, f"settled {large:,}", large, 0))
        if audit:
            results.append(reconcile_run(shop, engine, f"settled {large:,}, with audit", large, 0, audit=True))

        started = time.perf_counter()
        closes_abandoned = seed_abandoned_checkouts(shop, abandoned)
        if closes_abandoned:
            seeding[f"{abandoned:,} abandoned checkouts"] = round(time.perf_counter() - started, 1)
            database.settle()
            results.append(reconcile_run(shop, engine, f"{abandoned:,} abandoned: their last lookup",
                                         large, 0, abandoned=abandoned))
            results.append(reconcile_run(shop, engine, f"{abandoned:,} abandoned, past their last lookup",
                                         large, 0, abandoned=abandoned))
        label = database.label

    by_label = {r["label"]: r for r in results}
    big = by_label[f"settled {large:,}"]
    audited = by_label.get(f"settled {large:,}, with audit")
    last_lookup = by_label.get(f"{abandoned:,} abandoned: their last lookup")
    past = by_label.get(f"{abandoned:,} abandoned, past their last lookup")
    unsettled_run = results[1]
    goals = {
        "calls_at_large": {"target": f"<= {GOAL_CALLS}", "measured": big["rest_calls"],
                           "met": big["rest_calls"] <= GOAL_CALLS},
        "audit_listing_calls_per_1000": (
            {"target": f"<= {GOAL_AUDIT_CALLS_PER_1000:g} (+ token)",
             "measured": audited["listing_calls_per_1000_schedules"],
             "listing_calls": audited["listing_calls"], "pages_needed": audited["listing_pages_needed"],
             "paid_listing_calls": audited["paid_listing_calls"],
             "paid_pages_needed": audited["paid_listing_pages_needed"],
             # One call per started 1,000 schedules and per started 100 paid payments, and nothing
             # but the two listings (and the token).
             "met": audited["listing_calls"] <= audited["listing_pages_needed"]
             and audited["paid_listing_calls"] <= audited["paid_listing_pages_needed"]
             and audited["rest_calls_without_token"]
             == audited["listing_calls"] + audited["paid_listing_calls"]}
            if audited else {"target": f"<= {GOAL_AUDIT_CALLS_PER_1000:g}", "measured": None,
                             "met": None, "note": "this code's reconcile has no audit"}),
        "abandoned_past_last_lookup": (
            {"target": f"{GOAL_ABANDONED_CALLS} calls, each closed by its last lookup",
             "measured": past["rest_calls"], "last_lookup_calls": last_lookup["rest_calls"],
             "closed_by_last_lookup": last_lookup["report"]["abandoned"],
             "met": past["rest_calls"] == GOAL_ABANDONED_CALLS
             and last_lookup["report"]["abandoned"] == abandoned
             and past["after"]["first_payments_pending"] == 0}
            if past else {"target": f"{GOAL_ABANDONED_CALLS} calls", "measured": None, "met": None,
                          "note": "this code never closes an abandoned order"}),
        "unsettled_all_settled": {
            "target": f"{small + unsettled} settled, no first payment pending",
            "measured": unsettled_run["after"]["settled"],
            "met": unsettled_run["after"]["settled"] == small + unsettled
            and unsettled_run["after"]["first_payments_pending"] == 0},
    }
    figures = {"database": label, "small": small, "large": large, "unsettled": unsettled,
               "abandoned": abandoned if closes_abandoned else 0,
               "reconcile_has_audit": audit, "seeding_seconds": seeding, "scenarios": results,
               "goals": goals}

    def endpoints(calls: dict[str, int]) -> str:
        return ", ".join(f"{k} {v:,}" for k, v in calls.items()) or "none"

    rows = [[r["label"], f"{r['rest_calls']:,}", r["calls_per_subscription"], r["seconds"],
             r["ms_per_subscription"], r.get("listing_calls_per_1000_schedules", "-"),
             f"{r['after']['settled']:,}/{r['after']['live_subscriptions']:,}"] for r in results]

    def verdict(goal: dict) -> str:
        return "n/a" if goal["met"] is None else ("met" if goal["met"] else "MISSED")

    audit_goal = goals["audit_listing_calls_per_1000"]
    abandoned_goal = goals["abandoned_past_last_lookup"]
    print_table(
        f"(5) Reconcile: one run over {small:,} and {large:,} settled subscriptions, "
        f"{unsettled} unsettled and {abandoned:,} abandoned checkouts, {label}",
        ["run", "REST calls", "calls/subscription", "wall s", "ms/subscription",
         "list calls/1,000 schedules", "settled after"],
        rows,
        [
            *(f"{r['label']}: {endpoints(r['rest_calls_by_endpoint'])}" for r in results),
            f"at {large:,} settled: {big['rest_calls']:,} calls (goal <= {GOAL_CALLS}: "
            f"{verdict(goals['calls_at_large'])})",
            (f"audit: {audit_goal['listing_calls']} listing calls for {audit_goal['pages_needed']} pages of "
             f"1,000, {audit_goal['measured']} per 1,000 schedules, and {audit_goal['paid_listing_calls']} "
             f"of iamport's paid payments for {audit_goal['paid_pages_needed']} pages of {PAID_PAGE} (goal "
             f"<= {GOAL_AUDIT_CALLS_PER_1000:g} per started 1,000 schedules and one per started "
             f"{PAID_PAGE} paid payments, + token, nothing else: {verdict(audit_goal)})" if audited
             else "audit: n/a, this code's reconcile has no audit"),
            (f"abandoned: {abandoned:,} checkouts left in the window (iamport holds them ready) past "
             f"ABANDON_AFTER; their last lookup {abandoned_goal['last_lookup_calls']:,} calls, closing "
             f"{abandoned_goal['closed_by_last_lookup']:,}; every run after it {abandoned_goal['measured']} "
             f"calls (goal {GOAL_ABANDONED_CALLS}: {verdict(abandoned_goal)})" if past
             else "abandoned: n/a, this code never closes an abandoned order"),
            f"unsettled: {unsettled // 2} renewals iamport never took, {unsettled - unsettled // 2} first "
            f"payments pending that iamport holds paid; all settled by the run: "
            f"{verdict(goals['unsettled_all_settled'])}",
            "settled after: subscriptions whose next renewal is scheduled and held by iamport / live ones",
            "seeding (not timed): " + ", ".join(f"{k} {v:g} s" for k, v in seeding.items()),
            "each run in a fresh app (its own token, as cron's process); sandbox in the bench process "
            "(werkzeug threaded), no added latency; " + machine_line(machine),
        ],
    )
    write_results(NAME, figures, smoke=smoke, machine=machine)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--small", type=int, default=1000, help="settled subscriptions, first size")
    parser.add_argument("--large", type=int, default=10_000, help="settled subscriptions, second size")
    parser.add_argument("--unsettled", type=int, default=100, help="unsettled subscriptions")
    parser.add_argument("--abandoned", type=int, default=ABANDONED, help="abandoned checkouts")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="sqlite",
                        help="the storefront's database (PostgreSQL falls back to SQLite if missing)")
    parser.add_argument("--smoke", action="store_true",
                        help="200 settled, 20 unsettled, 300 at most, 200 abandoned")
    args = parser.parse_args(argv)
    setup_logging()
    if args.smoke:
        run(small=200, large=300, unsettled=20, abandoned=200, db=args.db, smoke=True)
    else:
        run(small=args.small, large=args.large, unsettled=args.unsettled, abandoned=args.abandoned,
            db=args.db)


if __name__ == "__main__":
    main()
