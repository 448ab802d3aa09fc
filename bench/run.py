"""Run every benchmark and print their tables: `python -m bench.run [--smoke] [--only NAME ...]`.

Each benchmark also writes its figures to bench/results/<name>.json. `--smoke` runs a few
iterations of each, to show they still work (CI does this); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import bench_admin, bench_checkout, bench_pages, bench_reconcile, bench_renewals, bench_verify
from bench.common import RESULTS_DIR, machine_info, machine_line, setup_logging

log = logging.getLogger("bench.run")

# name -> (full run, smoke run)
BENCHMARKS: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
    "verify": (
        lambda: bench_verify.run(n=1000, rounds=20),
        lambda: bench_verify.run(n=40, rounds=2, warmup=2, smoke=True),
    ),
    "pages": (
        lambda: bench_pages.run(seconds=5, rounds=2),
        lambda: bench_pages.run(seconds=1, rounds=1, smoke=True),
    ),
    "checkout": (
        lambda: bench_checkout.run(shoppers=200, pool=50),
        lambda: bench_checkout.run(shoppers=20, pool=10, smoke=True),
    ),
    "renewals": (
        lambda: bench_renewals.run(n=1000),
        lambda: bench_renewals.run(n=40, smoke=True),
    ),
    "reconcile": (
        lambda: bench_reconcile.run(small=1000, large=10_000, unsettled=100),
        lambda: bench_reconcile.run(small=200, large=300, unsettled=20, abandoned=200, smoke=True),
    ),
    "admin": (
        lambda: bench_admin.run(subscriptions=10_000, payments_each=10, requests=100),
        lambda: bench_admin.run(subscriptions=200, payments_each=5, requests=3, smoke=True),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the storefront's benchmarks.")
    parser.add_argument("--smoke", action="store_true", help="a few iterations of each (CI)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    names = args.only or list(BENCHMARKS)
    machine = machine_info()
    sys.stdout.write(f"Benchmarks ({'smoke' if args.smoke else 'full'}): {', '.join(names)}\n"
                     f"Machine: {machine_line(machine)}\n")
    timings: dict[str, float] = {}
    failed: list[str] = []
    started = time.perf_counter()
    for name in names:
        full, smoke = BENCHMARKS[name]
        begun = time.perf_counter()
        log.info("running %s", name)
        try:
            (smoke if args.smoke else full)()
        except Exception:
            log.exception("benchmark %s failed", name)
            failed.append(name)
        timings[name] = round(time.perf_counter() - begun, 1)
    total = time.perf_counter() - started
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "run.json").write_text(json.dumps({
        "mode": "smoke" if args.smoke else "full", "machine": machine, "seconds": timings,
        "total_seconds": round(total, 1), "failed": failed,
    }, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write("\nRun time: " + ", ".join(f"{k} {v:g} s" for k, v in timings.items())
                     + f"; total {total:.0f} s\n")
    if failed:
        sys.stdout.write(f"FAILED: {', '.join(failed)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
