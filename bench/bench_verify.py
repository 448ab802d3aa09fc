"""(1) Verification: payment lookups-and-checks against a running sandbox, by our client and by
the official `iamport-rest-client` 0.9.0, side by side in one process, interleaved in rounds.

Ours:      IamportClient.get_payment(imp_uid), then status == "paid" and Decimal amount check.
Official:  Iamport.find(imp_uid=...), then Iamport.is_paid(amount, response=...) — it asks for
           a token before every call, as its code does.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask
from requests.adapters import HTTPAdapter

from bench.common import (
    HTTP_TIMEOUT,
    RequestCounter,
    Stopwatch,
    latency_summary,
    machine_info,
    machine_line,
    print_table,
    setup_logging,
    start_counted_sandbox,
    write_results,
)

log = logging.getLogger("bench.verify")

NAME = "verify"
GOAL_RATIO = 0.55
# Paid payments looked up in turn (different amounts, so a wrong check would show).
AMOUNTS = (9.99, 19, 90, 1.5, 120)


class _DefaultTimeout(HTTPAdapter):
    """The official client sends without a timeout; this gives its calls one (nothing else)."""

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = HTTP_TIMEOUT
        return super().send(request, **kwargs)


def _to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    return Decimal(str(value))


def make_ours(sandbox) -> tuple[Callable[[str, Any], bool], Flask]:
    """Our client on a tiny Flask app with the IAMPORT_* settings; returns (verify, app)."""
    from storefront.iamport import IamportClient

    app = Flask("bench_verify")
    app.config.update(
        IAMPORT_API_URL=sandbox.url,
        IAMPORT_API_KEY=sandbox.api_key,
        IAMPORT_API_SECRET=sandbox.api_secret,
    )
    client = IamportClient(app)

    def verify(imp_uid: str, amount: Any) -> bool:
        info = client.get_payment(imp_uid)
        return info.get("status") == "paid" and _to_decimal(info.get("amount")) == Decimal(str(amount))

    return verify, app


def make_official(sandbox) -> Callable[[str, Any], bool]:
    """The official client pointed at the sandbox (`imp_url` ends with a slash)."""
    from iamport import Iamport

    client = Iamport(imp_key=sandbox.api_key, imp_secret=sandbox.api_secret, imp_url=sandbox.url + "/")
    client.requests_session.mount("http://", _DefaultTimeout())

    def verify(imp_uid: str, amount: Any) -> bool:
        payment = client.find(imp_uid=imp_uid)
        return bool(client.is_paid(amount, response=payment))

    return verify


class Contender:
    """One client's verifications: wall time, per-call durations, REST calls, failed checks."""

    def __init__(self, label: str, verify: Callable[[str, Any], bool]) -> None:
        self.label = label
        self.verify = verify
        self.watch = Stopwatch()
        self.durations: list[float] = []
        self.calls: dict[str, int] = {}
        self.failed = 0

    def batch(self, payments: list[tuple[str, Any]], count: int, counter: RequestCounter) -> None:
        before = counter.snapshot()
        with self.watch:
            for i in range(count):
                imp_uid, amount = payments[i % len(payments)]
                started = time.perf_counter()
                ok = self.verify(imp_uid, amount)
                self.durations.append(time.perf_counter() - started)
                self.failed += not ok
        for key, value in RequestCounter.since(before, counter.snapshot()).items():
            self.calls[key] = self.calls.get(key, 0) + value

    def figures(self) -> dict[str, Any]:
        done = len(self.durations)
        total = sum(self.calls.values())
        return {
            "verifications": done,
            "failed_checks": self.failed,
            "rest_calls": total,
            "rest_calls_by_endpoint": self.calls,
            "calls_per_verification": round(total / done, 3) if done else None,
            "wall_seconds": round(self.watch.seconds, 3),
            "per_verification": latency_summary(self.durations),
        }


def run(n: int = 1000, rounds: int = 20, warmup: int = 10, smoke: bool = False) -> dict[str, Any]:
    """Run the benchmark, print its table and write bench/results/verify.json."""
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        sandbox, counter = start_counted_sandbox(Path(tmp) / "sandbox.sqlite3")
        try:
            from tests.support.sandbox import checkout_params

            payments = []
            for amount in AMOUNTS:
                rsp = sandbox.pay(checkout_params(amount=amount))
                payments.append((rsp["imp_uid"], rsp["paid_amount"]))
            ours_verify, app = make_ours(sandbox)
            with app.app_context():
                ours = Contender("ours (storefront.iamport)", ours_verify)
                official = Contender("official iamport-rest-client 0.9.0", make_official(sandbox))
                # Warm-up (untimed, uncounted): connections, caches, and our first token.
                for contender in (ours, official):
                    for imp_uid, amount in payments[:1] * warmup:
                        assert contender.verify(imp_uid, amount), f"{contender.label}: warm-up check failed"
                per_round = max(1, n // rounds)
                for r in range(rounds):
                    # Alternate who goes first, so drift in the machine hits both alike.
                    order = (ours, official) if r % 2 == 0 else (official, ours)
                    for contender in order:
                        contender.batch(payments, per_round, counter)
        finally:
            sandbox.stop()

    mine, theirs = ours.figures(), official.figures()
    ratio = mine["wall_seconds"] / theirs["wall_seconds"] if theirs["wall_seconds"] else float("nan")
    calls_goal = mine["calls_per_verification"] == 1
    ratio_goal = ratio <= GOAL_RATIO
    figures = {
        "verifications_each": mine["verifications"],
        "rounds": rounds,
        "ours": mine,
        "official": theirs,
        "time_ratio_ours_to_official": round(ratio, 3),
        "goals": {
            "one_call_per_verification": {"target": 1, "measured": mine["calls_per_verification"],
                                          "met": calls_goal},
            "time_ratio": {"target": f"<= {GOAL_RATIO}", "measured": round(ratio, 3), "met": ratio_goal},
        },
        "setup": "sandbox served in this process by werkzeug's threaded server; both clients in "
                 "this process, interleaved in rounds; no added latency",
    }
    rows = []
    for label, f in ((ours.label, mine), (official.label, theirs)):
        rows.append([
            label, f["verifications"], f["rest_calls"], f["calls_per_verification"],
            f["rest_calls_by_endpoint"].get("POST getToken", 0), f["wall_seconds"],
            f["per_verification"]["p50_ms"], f["per_verification"]["p99_ms"], f["failed_checks"],
        ])
    print_table(
        f"(1) Verification: {mine['verifications']} lookups-and-checks each, {rounds} interleaved rounds",
        ["client", "verifications", "REST calls", "calls/verif.", "getToken", "wall s", "p50 ms",
         "p99 ms", "failed"],
        rows,
        [
            f"ratio ours/official wall time: {ratio:.3f}  (goal <= {GOAL_RATIO}: "
            f"{'met' if ratio_goal else 'MISSED'})",
            f"ours REST calls per verification: {mine['calls_per_verification']}  (goal 1, token "
            f"reused: {'met' if calls_goal else 'MISSED'}); ours fetched its one token in the "
            f"untimed warm-up ({warmup} verifications each)",
            "sandbox in-process (werkzeug threaded), no added latency; " + machine_line(machine),
        ],
    )
    write_results(NAME, figures, smoke=smoke, machine=machine)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="verifications per client")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="a few iterations only")
    args = parser.parse_args(argv)
    setup_logging()
    if args.smoke:
        run(n=40, rounds=2, warmup=2, smoke=True)
    else:
        run(n=args.n, rounds=args.rounds)


if __name__ == "__main__":
    main()
