"""(2) Pages: the catalog, a plan page and a logged-in account page under gunicorn, loaded by
`wrk` (or bench.loadgen when wrk is absent), against a bare Flask "hello" app under the same
gunicorn settings. Targets take turns in rounds, so drift in the machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from bench.common import (
    HTTP_TIMEOUT,
    csrf_token,
    ROOT,
    Gunicorn,
    intervals_later,
    machine_info,
    machine_line,
    prepare_database,
    print_table,
    setup_logging,
    storefront_app,
    storefront_env,
    write_results,
)

log = logging.getLogger("bench.pages")

NAME = "pages"
GOAL_SHARE = 0.60
GOAL_WORKER_MB = 80.0
EMAIL = "bench.pages@example.com"
PASSWORD = "correct horse battery"


# --------------------------------------------------------------------------- load generators


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests, rate, p50/p99 and errors from `wrk --latency` output."""
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", output, re.MULTILINE)
    if not done:
        raise ValueError(f"cannot read wrk's output:\n{output}")
    seconds = _ms(done.group(2) + done.group(3)) / 1000
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests": int(done.group(1)),
        "seconds": round(seconds, 3),
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": round(_ms(latency["50"]), 2),
        "p99_ms": round(_ms(latency["99"]), 2),
        # wrk counts the server closing a connection as a read error; gunicorn's sync workers
        # close after every answer, so only connect, write and timeout errors are errors here.
        "errors": sum(int(errors.group(i)) for i in (1, 3, 4)) if errors else 0,
        "non_2xx_3xx": int(non2xx.group(1)) if non2xx else 0,
    }


@dataclass
class LoadGenerator:
    """wrk if installed, else bench.loadgen in its own process."""

    connections: int
    wrk_threads: int = 2
    wrk: str | None = field(default_factory=lambda: shutil.which("wrk"))

    @property
    def name(self) -> str:
        return (f"wrk -t{self.wrk_threads} -c{self.connections}" if self.wrk
                else f"python bench.loadgen -c{self.connections} (wrk not installed)")

    def run(self, url: str, seconds: float, headers: list[str]) -> dict[str, Any]:
        if self.wrk:
            cmd = [self.wrk, f"-t{self.wrk_threads}", f"-c{self.connections}", f"-d{seconds:g}s",
                   "--latency", "--timeout", "10s"]
            for header in headers:
                cmd += ["-H", header]
            out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60)
            if out.returncode != 0:
                raise RuntimeError(f"wrk failed: {out.stderr}")
            return parse_wrk(out.stdout)
        cmd = [sys.executable, "-m", "bench.loadgen", url, "--connections", str(self.connections),
               "--duration", str(seconds)]
        for header in headers:
            cmd += ["-H", header]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60)
        if out.returncode != 0:
            raise RuntimeError(f"bench.loadgen failed: {out.stderr}")
        return json.loads(out.stdout)


# --------------------------------------------------------------------------- set-up


def add_account_history(env: dict[str, str]) -> None:
    """Give the bench user what a real account page shows: an active subscription with a card
    on file, three paid charges and the next renewal."""
    from storefront.extensions import db
    from storefront.models import Payment, Plan, Subscription, User, utcnow

    app = storefront_app(env)
    with app.app_context():
        user = db.session.execute(db.select(User).where(User.email == EMAIL)).scalar_one()
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        now = utcnow()
        start = now - timedelta(days=75)
        sub = Subscription(
            user=user, plan=plan, status="active", customer_uid=f"cu_{user.id}_bench",
            buyer_email=user.email, buyer_name=user.buyer_name, billing_key_ready_at=start,
            card_name="Visa", card_number="424242******4242",
            current_period_start=intervals_later(start, plan.interval, 2),
            current_period_end=intervals_later(start, plan.interval, 3),
        )
        db.session.add(sub)
        for i, kind in enumerate(("first", "renewal", "renewal")):
            paid = intervals_later(start, plan.interval, i)
            db.session.add(Payment(
                merchant_uid=f"bench_{kind}_{i}", imp_uid=f"imp_bench_{i}", user=user,
                subscription=sub, amount=Decimal(plan.price), currency=plan.currency, kind=kind,
                status="paid", customer_uid=sub.customer_uid, paid_at=paid, created_at=paid,
            ))
        db.session.add(Payment(
            merchant_uid="bench_renewal_next", user=user, subscription=sub,
            amount=Decimal(plan.price), currency=plan.currency, kind="renewal", status="scheduled",
            customer_uid=sub.customer_uid, scheduled_at=sub.current_period_end,
        ))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def register(url: str) -> None:
    """Sign the bench user up through the real form."""
    with requests.Session() as http:
        page = http.get(f"{url}/auth/register", timeout=HTTP_TIMEOUT)
        answer = http.post(f"{url}/auth/register", data={
            "csrf_token": csrf_token(page.text), "first_name": "Bench", "last_name": "Shopper",
            "email": EMAIL, "password": PASSWORD, "confirm": PASSWORD,
            "terms": "y", "privacy": "y", "age": "y",
        }, timeout=HTTP_TIMEOUT)
        if not answer.url.endswith("/account"):
            raise RuntimeError(f"sign-up failed: {answer.status_code} {answer.url}")


def login_cookie(url: str) -> str:
    """Log in through the form and return the `session` cookie of a logged-in shopper."""
    with requests.Session() as http:
        page = http.get(f"{url}/auth/login", timeout=HTTP_TIMEOUT)
        answer = http.post(f"{url}/auth/login", data={
            "csrf_token": csrf_token(page.text), "email": EMAIL, "password": PASSWORD,
        }, timeout=HTTP_TIMEOUT)
        if answer.status_code != 200 or not answer.url.endswith("/account"):
            raise RuntimeError(f"log-in failed: {answer.status_code} {answer.url}")
        # One more visit shows (and so clears) the welcome message kept in the session.
        http.get(f"{url}/account", timeout=HTTP_TIMEOUT)
        cookie = http.cookies.get("session")
    if not cookie:
        raise RuntimeError("no session cookie after logging in")
    check = requests.get(f"{url}/account", headers={"Cookie": f"session={cookie}"},
                         allow_redirects=False, timeout=HTTP_TIMEOUT)
    if check.status_code != 200 or "data-subscription=" not in check.text:
        raise RuntimeError(f"the session cookie does not open the account page ({check.status_code})")
    return cookie


# --------------------------------------------------------------------------- the benchmark


def run(seconds: float = 5.0, rounds: int = 2, connections: int = 16, workers: int = 2,
        threads: int = 1, smoke: bool = False) -> dict[str, Any]:
    """Run the benchmark, print its table and write bench/results/pages.json."""
    machine = machine_info()
    loader = LoadGenerator(connections=connections)
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        env = storefront_env(f"sqlite:///{Path(tmp) / 'storefront.sqlite3'}")
        prepare_database(env)
        shop = Gunicorn("wsgi:app", env, workers=workers, threads=threads, log_path=Path(tmp) / "shop.log")
        bare = Gunicorn("bench.hello_app:app", env, workers=workers, threads=threads,
                        log_path=Path(tmp) / "hello.log")
        with shop, bare:
            shop.start()
            bare.start()
            register(shop.url)
            add_account_history(env)
            cookie = login_cookie(shop.url)
            targets = [
                ("bare Flask hello", bare.url + "/", []),
                ("catalog /", shop.url + "/", []),
                ("plan /plans/basic-monthly", shop.url + "/plans/basic-monthly", []),
                ("account /account (logged in)", shop.url + "/account", [f"Cookie: session={cookie}"]),
            ]
            # The catalog asked again by a browser or proxy that holds it: the page is rendered
            # to compare, and only "304 Not Modified" goes back (code without an ETag: no row).
            etag = requests.get(shop.url + "/", timeout=HTTP_TIMEOUT).headers.get("ETag")
            if etag:
                targets.insert(2, ("catalog / revalidated (304)", shop.url + "/",
                                   [f"If-None-Match: {etag}"]))
            for label, url, headers in targets:  # warm-up: templates, connections, caches
                loader.run(url, 1, headers)
            runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in targets}
            for r in range(rounds):
                # Rotate who goes first in each round.
                for label, url, headers in targets[r % len(targets):] + targets[:r % len(targets)]:
                    log.info("round %d/%d: %s", r + 1, rounds, label)
                    runs[label].append(loader.run(url, seconds, headers))
            memory = {"storefront": shop.worker_rss_mib(), "bare": bare.worker_rss_mib()}
            settings = shop.settings

    results = {}
    for label, done in runs.items():
        total = sum(d["requests"] for d in done)
        elapsed = sum(d["seconds"] for d in done)
        results[label] = {
            "requests": total,
            "seconds": round(elapsed, 2),
            "requests_per_second": round(total / elapsed, 1),
            # Latency percentiles are per run; the figure is the median over the rounds.
            "p50_ms": round(statistics.median(d["p50_ms"] for d in done), 2),
            "p99_ms": round(statistics.median(d["p99_ms"] for d in done), 2),
            "errors": sum(d["errors"] for d in done),
            "non_2xx_3xx": sum(d["non_2xx_3xx"] for d in done),
            "runs": done,
        }
    bare_rps = results["bare Flask hello"]["requests_per_second"]
    for figures in results.values():
        figures["share_of_bare"] = round(figures["requests_per_second"] / bare_rps, 3)
    worker_mb = {k: [round(v * 1.048576, 1) for v in vals if v is not None] for k, vals in memory.items()}
    catalog_share = results["catalog /"]["share_of_bare"]
    biggest = max(worker_mb["storefront"]) if worker_mb["storefront"] else float("nan")
    goals = {
        "catalog_share": {"target": f">= {GOAL_SHARE}", "measured": catalog_share,
                          "met": catalog_share >= GOAL_SHARE},
        "worker_rss_mb": {"target": f"< {GOAL_WORKER_MB}", "measured": biggest,
                          "met": biggest < GOAL_WORKER_MB},
    }
    figures = {
        "server": settings, "load_generator": loader.name, "seconds_per_run": seconds,
        "rounds": rounds, "targets": results, "worker_rss_mb": worker_mb, "goals": goals,
    }
    rows = [[label, f["requests_per_second"], f["p50_ms"], f["p99_ms"], f"{f['share_of_bare']:.0%}",
             f["errors"] + f["non_2xx_3xx"]] for label, f in results.items()]
    print_table(
        f"(2) Pages: {settings}, {loader.name}, {rounds} rounds x {seconds:g} s per page",
        ["page", "req/s", "p50 ms", "p99 ms", "share of bare", "errors"],
        rows,
        [
            f"catalog share of the bare app: {catalog_share:.0%}  (goal >= {GOAL_SHARE:.0%}: "
            f"{'met' if goals['catalog_share']['met'] else 'MISSED'})",
            "worker resident memory (VmRSS after the load, MB = 10^6 bytes): storefront "
            + ", ".join(f"{v:g}" for v in worker_mb["storefront"]) + "; bare app "
            + ", ".join(f"{v:g}" for v in worker_mb["bare"])
            + f"  (goal < {GOAL_WORKER_MB:g} MB: {'met' if goals['worker_rss_mb']['met'] else 'MISSED'})",
            "SQLite database; p50/p99: median over the rounds; " + machine_line(machine),
        ],
    )
    write_results(NAME, figures, smoke=smoke, machine=machine)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one run of one page")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--smoke", action="store_true", help="a few iterations only")
    args = parser.parse_args(argv)
    setup_logging()
    if args.smoke:
        run(seconds=1, rounds=1, connections=args.connections, threads=args.threads, smoke=True)
    else:
        run(seconds=args.seconds, rounds=args.rounds, connections=args.connections, threads=args.threads)


if __name__ == "__main__":
    main()
