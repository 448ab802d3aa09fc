"""Flask commands: seed the demo plans, run the demo with its sandbox and jobs, reconcile for cron."""

from __future__ import annotations

import copy
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from werkzeug.serving import run_simple

from storefront.admin.staff_cli import staff_group
from storefront.config_iamport import DEMO_HOST, DEMO_PORT
from storefront.extensions import db
from storefront.models import Plan

log = logging.getLogger(__name__)

# Failed calls reconcile names on its way out; the log has every one.
FAILURES_SHOWN = 3

# The demo catalog, with each plan's Korean texts (Plan.translations). Basic is also sold in won,
# a currency without a minor unit, so that such an amount goes through the whole journey.
DEMO_PLANS = [
    {
        "slug": "basic-monthly",
        "name": "Basic",
        "description": "Everything you need to get started, billed every month.",
        "features": ["All core features", "Up to 3 projects", "E-mail support"],
        "price": Decimal("9.00"),
        "currency": "USD",
        "interval": "month",
        "sort_order": 1,
        "translations": {"ko": {
            "name": "베이직",
            "description": "시작하는 데 필요한 모든 기능을 매월 결제로 이용하는 요금제입니다.",
            "features": ["모든 핵심 기능", "프로젝트 최대 3개", "이메일 지원"],
        }},
    },
    {
        "slug": "basic-yearly",
        "name": "Basic yearly",
        "description": "The Basic plan billed once a year: two months free.",
        "features": ["All core features", "Up to 3 projects", "E-mail support", "Two months free"],
        "price": Decimal("90.00"),
        "currency": "USD",
        "interval": "year",
        "sort_order": 2,
        "translations": {"ko": {
            "name": "베이직 연간",
            "description": "베이직 요금제를 1년에 한 번 결제합니다. 2개월이 무료입니다.",
            "features": ["모든 핵심 기능", "프로젝트 최대 3개", "이메일 지원", "2개월 무료"],
        }},
    },
    {
        "slug": "premium-monthly",
        "name": "Premium",
        "description": "For teams that need more room and a faster answer.",
        "features": ["All core features", "Unlimited projects", "Priority support", "Audit log"],
        "price": Decimal("19.00"),
        "currency": "USD",
        "interval": "month",
        "sort_order": 3,
        "translations": {"ko": {
            "name": "프리미엄",
            "description": "더 넉넉한 공간과 더 빠른 답변이 필요한 팀을 위한 요금제입니다.",
            "features": ["모든 핵심 기능", "프로젝트 무제한", "우선 지원", "감사 로그"],
        }},
    },
    {
        "slug": "basic-krw-monthly",
        "name": "Basic (won)",
        "description": "The Basic plan billed in won every month.",
        "features": ["All core features", "Up to 3 projects", "E-mail support"],
        "price": Decimal("9900"),
        "currency": "KRW",
        "interval": "month",
        "sort_order": 4,
        "translations": {"ko": {
            "name": "베이직 (원화)",
            "description": "베이직 요금제를 원화로 매월 결제합니다.",
            "features": ["모든 핵심 기능", "프로젝트 최대 3개", "이메일 지원"],
        }},
    },
]


@dataclass(frozen=True)
class Seeded:
    """What `flask seed` did: plans added, and demo plans given the Korean texts they lacked."""

    added: int
    translated: int


def seed_plans() -> Seeded:
    """Add the demo plans that are missing, and give demo plans without Korean texts theirs.

    Safe to run again: a plan that has Korean texts (the merchant's own, say) is left as it is.
    """
    existing = {p.slug: p for p in db.session.execute(db.select(Plan)).scalars()}
    added = translated = 0
    for spec in DEMO_PLANS:
        plan = existing.get(spec["slug"])
        if plan is None:
            # Copies, so that a plan's texts changed in the session never change DEMO_PLANS.
            db.session.add(Plan(active=True, **copy.deepcopy(spec)))
            added += 1
        elif "ko" not in (plan.translations or {}):
            # A new dict, so that the JSON column sees the change.
            plan.translations = {**(plan.translations or {}), "ko": copy.deepcopy(spec["translations"]["ko"])}
            translated += 1
    db.session.commit()
    return Seeded(added, translated)


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Add the demo plans and their Korean texts (safe to run again)."""
    seeded = seed_plans()
    click.echo(f"Seeded {seeded.added} plan(s); {len(DEMO_PLANS) - seeded.added} already there.")
    if seeded.translated:
        click.echo(f"Korean texts added to {seeded.translated} plan(s).")


def _wait_for_port(host: str, port: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _served_at(host: str, port: int) -> str:
    """The address a browser and the sandbox reach a server listening on `host`:`port` by."""
    if host in {"", "0.0.0.0", "::"}:  # every interface: this machine's own is one of them
        host = DEMO_HOST
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@click.command("run-demo")
@with_appcontext
@click.option("--host", default=DEMO_HOST, show_default=True)
@click.option("--port", default=DEMO_PORT, show_default=True, type=int, envvar="PORT")
def run_demo_command(host: str, port: int) -> None:
    """Start the sandbox (in sandbox mode), the periodic job cron runs in production (every
    DEMO_JOBS_SECONDS) and serve the storefront."""
    from storefront.jobs import DemoJobs

    app = current_app._get_current_object()
    if app.config["IAMPORT_MODE"] == "sandbox" and not os.environ.get("PUBLIC_URL"):
        # The sandbox's default PUBLIC_URL is `make run`'s address; this run's is where it serves.
        app.config["PUBLIC_URL"] = _served_at(host, port)
    sandbox = None
    sandbox_url = app.config.get("SANDBOX_URL")
    if app.config["IAMPORT_MODE"] == "sandbox" and sandbox_url:
        parts = urlsplit(sandbox_url)
        env = dict(os.environ)
        # The sandbox sends webhooks of payments without notice_url to the storefront.
        env.setdefault("SANDBOX_WEBHOOK_URL", f"{app.config['PUBLIC_URL']}/iamport/webhook")
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--host", parts.hostname or host,
             "--port", str(parts.port or 5001)],
            env=env,
        )
        if not _wait_for_port(parts.hostname or host, parts.port or 5001):
            sandbox.terminate()
            raise click.ClickException(f"the sandbox did not start at {sandbox_url}")
        log.info("sandbox running at %s (operator page: %s/_sandbox)", sandbox_url, sandbox_url)
    click.echo(f"\n  Storefront: {_served_at(host, port)}\n")
    if sandbox is not None:
        click.echo(f"  Sandbox operator page: {sandbox_url}/_sandbox\n")
    demo_jobs = DemoJobs(app, app.config["DEMO_JOBS_SECONDS"])
    demo_jobs.start()
    try:
        # Flask refuses app.run() inside its own CLI, so the server is started directly.
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        demo_jobs.stop()
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(timeout=10)


billing_group = AppGroup("billing", help="Billing jobs for cron.")


@billing_group.command("reconcile")
@click.option("--min-age", type=int, default=None,
              help="Leave pending payments younger than this many seconds (default RECONCILE_MIN_AGE).")
@click.option("--audit", is_flag=True,
              help="Also page through iamport's schedule listing for schedules it revoked or lost, and "
                   "its paid payments of the last 90 days for any we never recorded (daily).")
def reconcile_command(min_age: int | None, audit: bool) -> None:
    """Settle pending payments, confirm billing keys, send schedules iamport has not taken.

    Exits 1, naming them, when iamport could not be reached, some of its calls failed, or work
    owed is stuck (a refund owed for a day, a renewal not withdrawn, a key not deleted, a live
    subscription past its paid-until date with no renewal open), so cron alerts; the work is
    left for the next run.
    """
    from storefront import jobs

    try:
        report = jobs.periodic(min_age=None if min_age is None else timedelta(seconds=min_age),
                               audit=audit)
    except jobs.Unreachable as exc:
        raise click.ClickException(
            f"could not reach iamport at {current_app.config['IAMPORT_API_URL']}: {exc}; "
            "nothing was reconciled"
        ) from None
    if audit:
        click.echo(f"audit: revoked at iamport {report.revoked_at_iamport}, "
                   f"lost at iamport {report.lost_at_iamport}, "
                   f"paid at iamport but unrecorded {report.paid_unrecorded}")
    click.echo(
        f"settled {report.settled}, still pending {report.still_pending}, "
        f"abandoned {report.abandoned}, keys confirmed {report.keys_confirmed}, "
        f"rescheduled {report.rescheduled}, ended {report.ended}, "
        f"refunds given back {report.refunds_done}, refunds still owed {report.refunds_owed}, "
        f"keys deleted {report.keys_deleted}, keys still to delete {report.keys_to_delete}, "
        f"renewal notices {report.notices_queued}, mails sent {report.mails_sent}, "
        f"webhook log entries deleted {report.webhooks_purged}"
    )
    if report.failures:
        shown = "; ".join(report.failures[:FAILURES_SHOWN])
        more = len(report.failures) - FAILURES_SHOWN
        raise click.ClickException(
            f"{len(report.failures)} things left undone (calls to iamport failed, or work owed "
            f"is stuck); the next run tries them again: "
            f"{shown}" + (f"; and {more} more (see the log)" if more > 0 else "")
        )


def register(app: Flask) -> None:
    """Add the commands to the app's CLI."""
    app.cli.add_command(billing_group)
    app.cli.add_command(staff_group)
    app.cli.add_command(seed_command)
    app.cli.add_command(run_demo_command)
