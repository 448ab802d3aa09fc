"""(3) Checkout completion under load: concurrent subscriptions against the sandbox with 50 ms
of added latency on every REST call. Each shopper opens the checkout page, pays in the window,
then posts the desktop callback (POST /checkout/complete, the timed route) while the webhook
(POST /iamport/webhook) arrives at the same moment.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from bench.common import (
    DEPLOYED,
    HTTP_TIMEOUT,
    csrf_token,
    Gunicorn,
    RequestCounter,
    free_port,
    latency_summary,
    machine_info,
    machine_line,
    prepare_database,
    print_table,
    setup_logging,
    start_counted_sandbox,
    storefront_app,
    storefront_database,
    storefront_env,
    write_results,
)

log = logging.getLogger("bench.checkout")

NAME = "checkout"
PLAN = "basic-monthly"
PASSWORD = "bench password"
# A cheap hash for the bench's shoppers: the benchmark is about checkout, not scrypt.
CHEAP_HASH_METHOD = "pbkdf2:sha256:1000"
_PARAMS = re.compile(r'<script id="checkout-params" type="application/json">(.*?)</script>', re.DOTALL)


def create_shoppers(env: dict[str, str], count: int, prefix: str) -> list[str]:
    """Users written straight to the database (with a cheap password hash); returns e-mails."""
    from werkzeug.security import generate_password_hash

    from storefront import consents
    from storefront.extensions import db
    from storefront.models import User

    app = storefront_app(env)
    password_hash = generate_password_hash(PASSWORD, method=CHEAP_HASH_METHOD)
    emails = [f"{prefix}{i}@example.com" for i in range(count)]
    with app.app_context():
        users = [User(email=email, first_name="Bench", last_name=f"Shopper{i}", password_hash=password_hash)
                 for i, email in enumerate(emails)]
        for user in users:
            consents.record(user)  # as sign-up does: the log-in is not sent to give them
        db.session.add_all(users)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return emails


def log_in(url: str, email: str) -> requests.Session:
    """A shopper's session, logged in through the real form."""
    http = requests.Session()
    page = http.get(f"{url}/auth/login", timeout=HTTP_TIMEOUT)
    answer = http.post(f"{url}/auth/login", data={"csrf_token": csrf_token(page.text), "email": email,
                                                  "password": PASSWORD}, timeout=HTTP_TIMEOUT)
    if answer.status_code != 200 or not answer.url.endswith("/account"):
        raise RuntimeError(f"log-in of {email} failed: {answer.status_code}")
    return http


@dataclass
class Outcome:
    """One shopper's checkout."""

    merchant_uid: str | None = None
    page_s: float | None = None
    complete_s: float | None = None
    webhook_s: float | None = None
    errors: list[str] = field(default_factory=list)


def checkout(shop_url: str, sandbox: Any, http: requests.Session, webhooks: ThreadPoolExecutor) -> Outcome:
    """Open the checkout, pay in the window, then callback and webhook at the same moment."""
    from tests.support.sandbox import RunningSandbox, window_result

    out = Outcome()
    started = time.perf_counter()
    page = http.get(f"{shop_url}/checkout/{PLAN}", timeout=HTTP_TIMEOUT)
    if page.status_code != 200:
        out.errors.append(f"checkout page {page.status_code}")
        return out
    page_params = json.loads(unescape(_PARAMS.search(page.text).group(1)))
    csrf = csrf_token(page.text)
    # The shopper ticks the consent and presses pay: only then is the order opened (prepare).
    opened_order = http.post(f"{shop_url}{page_params['order_url']}",
                             json={"consent": page_params["consent_version"],
                                   "amount": page_params["amount"], "currency": page_params["currency"]},
                             headers={"X-CSRFToken": csrf, "Accept": "application/json"},
                             timeout=HTTP_TIMEOUT)
    out.page_s = time.perf_counter() - started
    if opened_order.status_code != 200:
        out.errors.append(f"order not opened {opened_order.status_code}")
        return out
    params = opened_order.json()
    out.merchant_uid = params["pay"]["merchant_uid"]
    # The sandbox's helpers, on this shopper's own HTTP session.
    window = RunningSandbox(app=sandbox.app, served=sandbox.served, http=requests.Session())
    try:
        opened = window.open_window(params["pay"], imp_code=params["imp_code"], origin=shop_url)
        if not opened.get("ok"):
            out.errors.append(f"window refused: {opened}")
            return out
        paid = window.submit_window(opened["window_url"])
        rsp = window_result(paid.text)
    finally:
        window.http.close()
    if not rsp.get("success"):
        out.errors.append(f"window payment failed: {rsp.get('error_msg')}")
        return out
    body = {"imp_uid": rsp["imp_uid"], "merchant_uid": out.merchant_uid}

    def deliver_webhook() -> tuple[float, requests.Response]:
        begun = time.perf_counter()
        answer = requests.post(f"{shop_url}/iamport/webhook", json={**body, "status": "paid"},
                               timeout=HTTP_TIMEOUT)
        return time.perf_counter() - begun, answer

    hook = webhooks.submit(deliver_webhook)
    begun = time.perf_counter()
    done = http.post(f"{shop_url}/checkout/complete", json=body,
                     headers={"X-CSRFToken": csrf, "Accept": "application/json"}, timeout=HTTP_TIMEOUT)
    out.complete_s = time.perf_counter() - begun
    if done.status_code != 200 or done.json().get("status") != "paid":
        out.errors.append(f"complete {done.status_code} {done.text[:120]}")
    out.webhook_s, answer = hook.result()
    if answer.status_code != 200 or answer.json().get("status") != "paid":
        out.errors.append(f"webhook {answer.status_code} {answer.text[:120]}")
    return out


def recorded(url: str, merchant_uids: list[str]) -> dict[str, tuple[str, str]]:
    """(payment status, subscription status) of each order, as the storefront recorded it."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT p.merchant_uid, p.status, s.status FROM payments p "
                "JOIN subscriptions s ON s.id = p.subscription_id WHERE p.kind = 'first'"
            )).all()
    finally:
        engine.dispose()
    wanted = set(merchant_uids)
    return {m: (p, s) for m, p, s in rows if m in wanted}


def run(shoppers: int = 200, pool: int = 50, latency_ms: int = 50, threads: int = DEPLOYED["threads"],
        db: str = "postgresql", smoke: bool = False) -> dict[str, Any]:
    """Run the benchmark, print its table and write bench/results/checkout.json."""
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp:
        tmp_path = Path(tmp)
        # PAYMENTWALL's pingback at its sandbox default; the sandbox's own webhooks are dropped
        # because the benchmark delivers each payment's webhook itself, with the callback.
        sandbox, counter = start_counted_sandbox(tmp_path / "sandbox.sqlite3", SANDBOX_PINGBACK_DELAY=1.0,
                                                 SANDBOX_WEBHOOK_DROP_RATE=1.0, SANDBOX_TICK=0.2)
        port = free_port()
        sessions: list[requests.Session] = []
        with ExitStack() as stack:
            stack.callback(sandbox.stop)
            database = stack.enter_context(storefront_database(db, tmp_path))
            env = storefront_env(database.url, sandbox=sandbox, public_url=f"http://127.0.0.1:{port}")
            shop = Gunicorn("wsgi:app", env, workers=DEPLOYED["workers"], threads=threads, port=port,
                            log_path=tmp_path / "shop.log")
            stack.callback(shop.stop)
            stack.callback(lambda: [http.close() for http in sessions])
            prepare_database(env)
            emails = create_shoppers(env, shoppers, "checkout")
            shop.start()
            with ThreadPoolExecutor(max_workers=8) as logins:
                sessions.extend(logins.map(lambda e: log_in(shop.url, e), emails))
            sandbox.set_faults(latency_ms=latency_ms)
            log.info("%d shoppers logged in; %d at a time check out (latency %d ms)", shoppers, pool,
                     latency_ms)
            before = counter.snapshot()
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=pool) as webhooks, \
                    ThreadPoolExecutor(max_workers=pool) as workers:
                outcomes = list(workers.map(lambda s: checkout(shop.url, sandbox, s, webhooks), sessions))
            wall = time.perf_counter() - started
            calls = RequestCounter.since(before, counter.snapshot())
            states = recorded(database.url, [o.merchant_uid for o in outcomes if o.merchant_uid])
            settings = f"{shop.settings}, {database.label}"

    wrong_state = sum(1 for o in outcomes if o.merchant_uid and states.get(o.merchant_uid) != ("paid", "active"))
    failed = sum(1 for o in outcomes if o.errors)
    errors = [e for o in outcomes for e in o.errors]
    complete = latency_summary([o.complete_s for o in outcomes if o.complete_s is not None])
    webhook = latency_summary([o.webhook_s for o in outcomes if o.webhook_s is not None])
    page = latency_summary([o.page_s for o in outcomes if o.page_s is not None])
    total_calls = sum(calls.values())
    figures = {
        "subscriptions": shoppers, "client_concurrency": pool, "latency_ms": latency_ms,
        "server": f"{settings} (storefront), sandbox in-process (werkzeug threaded)",
        "wall_seconds": round(wall, 3),
        "subscriptions_per_second": round(shoppers / wall, 2),
        "complete_route": complete, "webhook_route": webhook, "checkout_page": page,
        "errors": {"failed_checkouts": failed, "wrong_final_state": wrong_state, "messages": errors[:20]},
        "rest_calls": total_calls, "rest_calls_by_endpoint": calls,
        "rest_calls_per_subscription": round(total_calls / shoppers, 2),
        "goals": {"errors": {"target": 0, "measured": failed + wrong_state,
                             "met": failed + wrong_state == 0}},
    }
    rows = [
        ["POST /checkout/complete (callback)", complete["count"], complete["p50_ms"], complete["p99_ms"],
         complete["max_ms"]],
        ["POST /iamport/webhook (same moment)", webhook["count"], webhook["p50_ms"], webhook["p99_ms"],
         webhook["max_ms"]],
        ["GET + POST /checkout/<plan> (page, then prepare)", page["count"], page["p50_ms"], page["p99_ms"], page["max_ms"]],
    ]
    print_table(
        f"(3) Checkout: {shoppers} subscriptions, {pool} at a time, {latency_ms} ms added latency, "
        f"{settings}",
        ["route", "requests", "p50 ms", "p99 ms", "max ms"],
        rows,
        [
            f"throughput: {shoppers / wall:.1f} subscriptions/s ({shoppers} in {wall:.1f} s, each: "
            "page, window, callback + webhook)",
            f"errors: {failed} failed checkouts, {wrong_state} not recorded paid/active  (goal 0: "
            f"{'met' if failed + wrong_state == 0 else 'MISSED'})",
            f"REST calls per subscription: {total_calls / shoppers:.2f} ("
            + ", ".join(f"{k} {v}" for k, v in calls.items()) + ")",
            "storefront under gunicorn; sandbox in the bench process (werkzeug threaded); "
            + machine_line(machine),
        ],
    )
    if errors:
        log.warning("first errors: %s", errors[:5])
    write_results(NAME, figures, smoke=smoke, machine=machine)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--pool", type=int, default=50, help="shoppers checking out at once")
    parser.add_argument("--threads", type=int, default=DEPLOYED["threads"], help="gunicorn threads per worker")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql",
                        help="the storefront's database (PostgreSQL falls back to SQLite if missing)")
    parser.add_argument("--smoke", action="store_true", help="a few iterations only")
    args = parser.parse_args(argv)
    setup_logging()
    if args.smoke:
        run(shoppers=20, pool=10, threads=args.threads, db=args.db, smoke=True)
    else:
        run(shoppers=args.shoppers, pool=args.pool, threads=args.threads, db=args.db)


if __name__ == "__main__":
    main()
