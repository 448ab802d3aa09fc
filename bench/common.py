"""What the benchmarks share: machine facts, statistics, tables, JSON results, and the servers
they measure (a sandbox that counts its REST calls, the storefront under gunicorn)."""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import runpy
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import requests
import sqlalchemy as sa

from tests.support.pgcluster import free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
# gunicorn's settings as deployed (gunicorn.conf.py), which the benchmarks of the storefront use.
DEPLOYED = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
# Every HTTP call the benchmarks make carries this timeout (connect, read).
HTTP_TIMEOUT = (5.0, 30.0)

log = logging.getLogger("bench")

T = TypeVar("T")


# --------------------------------------------------------------------------- the machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what platform knows)."""
    match = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.MULTILINE)
    return match.group(1).strip() if match else (platform.processor() or "unknown")


def memory_gib() -> float | None:
    """Total memory in GiB from /proc/meminfo."""
    match = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    return round(int(match.group(1)) / 1024 / 1024, 1) if match else None


def wrk_version() -> str | None:
    """`wrk`'s version line, or None when it is not installed."""
    exe = shutil.which("wrk")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "wrk"


def git_commit() -> str | None:
    """The commit the benchmarks ran on."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, Python and OS: where the figures come from."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "commit": git_commit(),
        # Other work on the machine skews every figure; this says how busy it was.
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "reference_loop_ms": reference_loop_ms(),
    }


def reference_loop_ms(repeats: int = 3) -> float:
    """How fast this CPU runs Python right now: the best of a few runs of a fixed loop.

    A shared virtual machine's speed changes from hour to hour; comparing this figure tells
    whether two runs' CPU times may be compared at all.
    """
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def machine_line(info: dict[str, Any]) -> str:
    """The machine in one line, for the tables."""
    return (f"{info['cpu_model']}, {info['usable_cores']} cores, {info['memory_gib']} GiB, "
            f"Python {info['python']}, load average {info['load_average'][0]:g} at the start, "
            f"reference loop {info['reference_loop_ms']:g} ms")


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int]:
    """Count, p50, p99, mean and max of durations in seconds, as milliseconds."""
    return {
        "count": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 2),
        "p99_ms": round(percentile(seconds, 99) * 1000, 2),
        "mean_ms": round(sum(seconds) / len(seconds) * 1000, 2) if seconds else float("nan"),
        "max_ms": round(max(seconds) * 1000, 2) if seconds else float("nan"),
    }


class Stopwatch:
    """Wall time added up over several timed blocks (`with watch: ...`)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started: float | None = None

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._started is not None
        self.seconds += time.perf_counter() - self._started
        self._started = None


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.05,
             what: str = "condition") -> T:
    """The tests' `wait_until`, raising TimeoutError (which a benchmark may catch) after `timeout`."""
    return wait_until(predicate, timeout, interval, message=what, error=TimeoutError)


# --------------------------------------------------------------------------- output


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def format_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
                 notes: Iterable[str] = ()) -> str:
    """A plain-text table with a title and notes under it."""
    text_rows = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        # The first column (a label) is left-aligned, figures are right-aligned.
        parts = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    out = [f"\n{title}", line(list(headers)), rule, *(line(r) for r in text_rows)]
    out += [f"  {note}" for note in notes]
    return "\n".join(out) + "\n"


def print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
                notes: Iterable[str] = ()) -> None:
    """Write a table to stdout: the tables are the benchmarks' output."""
    sys.stdout.write(format_table(title, headers, rows, notes))
    sys.stdout.flush()


def write_results(name: str, figures: dict[str, Any], *, smoke: bool,
                  machine: dict[str, Any] | None = None) -> Path:
    """Write bench/results/<name>.json with the machine, the mode and the figures."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "benchmark": name,
        "mode": "smoke" if smoke else "full",
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine or machine_info(),
        **figures,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    log.info("figures written to %s", path.relative_to(ROOT))
    return path


# --------------------------------------------------------------------------- the sandbox


# The iamport REST API, as opposed to the SDK, the payment window and the control endpoints.
_REST_PREFIXES = ("/users/", "/payments", "/subscribe/")
_ENDPOINTS = [
    (re.compile(r"^/users/getToken$"), "getToken"),
    (re.compile(r"^/payments/(find|prepare|cancel)\b"), None),
    # The listing of payments by status, e.g. 'GET payments/status/paid'.
    (re.compile(r"^/payments/status/[^/]+$"), None),
    (re.compile(r"^/payments/[^/]+$"), "payments/{imp_uid}"),
    # One schedule by its merchant_uid, apart from the listing of a time range.
    (re.compile(r"^/subscribe/payments/schedule/[^/]+$"), "subscribe/payments/schedule/{merchant_uid}"),
    (re.compile(r"^/subscribe/payments/(schedule|unschedule|again)\b"), None),
    (re.compile(r"^/subscribe/customers/[^/]+(/payments)?$"), "subscribe/customers"),
]


def endpoint_of(method: str, path: str) -> str:
    """A REST call's endpoint family, e.g. 'GET payments/{imp_uid}'."""
    for pattern, name in _ENDPOINTS:
        match = pattern.match(path)
        if match:
            label = name or match.group(0).lstrip("/")
            return f"{method} {label}"
    return f"{method} {path}"


class RequestCounter:
    """WSGI middleware counting the REST API calls a sandbox answers, by endpoint."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._last: dict[str, float] = {}

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(_REST_PREFIXES):
            return self.app(environ, start_response)
        key = endpoint_of(environ.get("REQUEST_METHOD", "GET"), path)
        with self._lock:
            self._counts[key] += 1
        answer = self.app(environ, start_response)
        with self._lock:
            self._last[key] = time.perf_counter()
        return answer

    def last_answered(self, key: str) -> float | None:
        """When the sandbox last finished handling a call to this endpoint (perf_counter)."""
        with self._lock:
            return self._last.get(key)

    def snapshot(self) -> Counter[str]:
        """The counts so far."""
        with self._lock:
            return Counter(self._counts)

    def total(self) -> int:
        """All REST calls so far."""
        with self._lock:
            return sum(self._counts.values())

    @staticmethod
    def since(before: Counter[str], after: Counter[str]) -> dict[str, int]:
        """The calls made between two snapshots, by endpoint."""
        return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] - before.get(k, 0)}


def start_counted_sandbox(database: Path, **config: Any):
    """A sandbox served on 127.0.0.1 (like tests.support.sandbox.start_sandbox) whose REST
    calls are counted; returns (RunningSandbox, RequestCounter)."""
    from sandbox import create_app
    from tests.support.sandbox import TEST_CONFIG, RunningSandbox
    from tests.support.servers import serve_wsgi

    app = create_app({**TEST_CONFIG, "SANDBOX_DATABASE": str(database), **config})
    counter = RequestCounter(app.wsgi_app)
    app.wsgi_app = counter  # type: ignore[method-assign]
    served = serve_wsgi(app)
    app.extensions["sandbox"].remember_url(served.url)
    app.extensions["sandbox"].start()
    return RunningSandbox(app=app, served=served), counter


# --------------------------------------------------------------------------- the storefront


def storefront_env(database_url: str, *, sandbox: Any = None, public_url: str | None = None,
                   log_level: str = "WARNING") -> dict[str, str]:
    """Environment of a storefront process: sandbox mode, a fixed SECRET_KEY (so nothing is
    written to instance/), its own database, no rate limits, and the sandbox's URLs and keys
    if given."""
    env = dict(os.environ)
    env.update({
        "IAMPORT_MODE": "sandbox",
        "SECRET_KEY": "bench-" + secrets.token_hex(16),
        "DATABASE_URL": database_url,
        "LOG_LEVEL": log_level,
        "PYTHONDONTWRITEBYTECODE": "1",
        # Every shopper, callback and webhook of a benchmark comes from 127.0.0.1, thousands a
        # minute: the rate limits would measure themselves. The log-in throttle stays on.
        "RATELIMIT_ENABLED": "0",
        # The demo's clock (a read of the sandbox's per request) is not the shop's work: off, so
        # that figures stay comparable with code from before it.
        "SANDBOX_CLOCK": "false",
    })
    if sandbox is not None:
        env.update(sandbox.storefront_settings())
    if public_url:
        env["PUBLIC_URL"] = public_url
    return env


def prepare_database(env: dict[str, str]) -> None:
    """Migrate and seed the storefront's database the way `make run` does."""
    for args in (["db", "upgrade"], ["seed"]):
        cmd = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def storefront_app(env: dict[str, str], **overrides: Any):
    """A storefront app object in this process on the same database (for setting rows up, or
    for timing its pages in the server); `overrides` are further settings."""
    from storefront import create_app

    return create_app({
        **overrides,
        "IAMPORT_MODE": "sandbox",
        "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"],
        "SECRET_KEY": env["SECRET_KEY"],
        "LOG_LEVEL": env.get("LOG_LEVEL", "WARNING"),
        **{k: env[k] for k in ("IAMPORT_API_URL", "IAMPORT_SDK_URL", "SANDBOX_URL", "PUBLIC_URL",
                               "IAMPORT_IMP_CODE", "IAMPORT_API_KEY", "IAMPORT_API_SECRET")
           if k in env},
    })


def intervals_later(moment: datetime, interval: str, count: int = 1) -> datetime:
    """`moment` moved on by whole months or years (in UTC), on this code or on code from before
    storefront.periods.add_interval took the shop's zone (benchmarks run on both)."""
    import inspect

    from storefront.periods import add_interval

    if "zone" in inspect.signature(add_interval).parameters:
        return add_interval(moment, interval, count, zone=timezone.utc)
    return add_interval(moment, interval, count)


@dataclass
class Database:
    """The storefront's database in a benchmark."""

    url: str
    label: str
    data_dir: Path | None = None

    def cpu_seconds(self) -> float:
        """CPU seconds of the database server so far (PostgreSQL's postmaster and backends)."""
        if self.data_dir is None:
            return 0.0  # SQLite works inside the storefront's processes
        first = _read(str(self.data_dir / "postmaster.pid")).split("\n", 1)[0].strip()
        return process_cpu_seconds(int(first), children=True) if first.isdigit() else 0.0

    def settle(self) -> None:
        """Finish the server's own work now (statistics, dead rows, dirty pages), so that
        autovacuum or a checkpoint does not start in the middle of a timed stretch."""
        if self.data_dir is None:
            return
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
                conn.execute(sa.text("CHECKPOINT"))
        finally:
            engine.dispose()


@contextmanager
def postgres_cluster() -> Iterator[Database]:
    """A throwaway PostgreSQL cluster with the server's default durability (fsync on, unlike the
    test suite's cluster). RuntimeError when PostgreSQL is not installed."""
    from tests.support.pgcluster import cluster, find_bindir

    if find_bindir() is None:
        raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    with cluster(dbname="storefront_bench", durable=True) as running:
        yield Database(running.url, "PostgreSQL", running.data_dir)


@contextmanager
def storefront_database(kind: str, tmp_path: Path) -> Iterator[Database]:
    """The storefront's database for a benchmark: `sqlite` (a file), or `postgresql` (as
    deployed), which falls back to SQLite when PostgreSQL is not installed."""
    with ExitStack() as stack:
        database = Database(f"sqlite:///{tmp_path / 'storefront.sqlite3'}", "SQLite")
        if kind == "postgresql":
            try:
                database = stack.enter_context(postgres_cluster())
            except (RuntimeError, subprocess.SubprocessError) as exc:
                log.warning("no PostgreSQL (%s); using SQLite", exc)
        yield database


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (from /proc)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(f"/proc/{entry.name}/stat")
        # The command may contain spaces and parentheses: the fields start after the last ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry.name))
    return sorted(kids)


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process (VmRSS) in MiB."""
    match = re.search(r"^VmRSS:\s+(\d+) kB", _read(f"/proc/{pid}/status"), re.MULTILINE)
    return round(int(match.group(1)) / 1024, 1) if match else None


@dataclass
class Gunicorn:
    """A gunicorn master with its workers on a free port of 127.0.0.1."""

    app: str
    env: dict[str, str]
    workers: int = 2
    threads: int = 1
    log_path: Path | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> str:
        """The gunicorn settings, as shown in the tables."""
        kind = "sync" if self.threads == 1 else f"gthread x{self.threads}"
        return f"gunicorn {self.workers} workers ({kind})"

    def start(self, ready_path: str = "/", timeout: float = 60.0) -> Gunicorn:
        cmd = [sys.executable, "-m", "gunicorn", "--workers", str(self.workers),
               # As gunicorn.conf.py pairs them: a connection per thread.
               "--threads", str(self.threads), "--worker-connections", str(self.threads),
               "--bind", f"127.0.0.1:{self.port}",
               "--log-level", "warning", "--chdir", str(ROOT), self.app]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT)
        finally:
            if self.log_path:
                out.close()  # type: ignore[union-attr]

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app} exited with {self.process.returncode}; "
                                   f"see {self.log_path}")
            try:
                answered = requests.get(self.url + ready_path, timeout=2).status_code < 500
            except requests.RequestException:
                return False
            return answered and len(self.worker_pids()) == self.workers

        wait_for(ready, timeout, interval=0.1, what=f"gunicorn {self.app} on {self.url}")
        log.info("%s serving %s on %s", self.settings, self.app, self.url)
        return self

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the master)."""
        return _children(self.process.pid) if self.process else []

    def cpu_seconds(self) -> float:
        """CPU seconds of the master and its workers so far."""
        return process_cpu_seconds(self.process.pid, children=True) if self.process else 0.0

    def worker_rss_mib(self) -> list[float | None]:
        """Each worker's resident memory in MiB."""
        return [rss_mib(pid) for pid in self.worker_pids()]

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the master (it stops its workers)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("gunicorn %s did not stop in %.0f s; killing it", self.process.pid, timeout)
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> Gunicorn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of a process (all its threads) so far; with `children`, also
    of its children: the living ones and those it has already reaped (a PostgreSQL backend
    that came and went is still counted, in its postmaster's cutime/cstime)."""
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    if len(fields) < 15:
        return 0.0
    # After the command: utime, stime, cutime, cstime are the 14th to 17th fields of the line.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    seconds = ticks / _TICK
    if children:
        seconds += sum(process_cpu_seconds(kid, children=True) for kid in _children(pid))
    return seconds


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in _read("/proc/stat").splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


class CpuMeter:
    """CPU time used by groups of processes, and by the whole machine, over a stretch of time.
    Each group is a function giving its CPU seconds so far."""

    def __init__(self, groups: dict[str, Callable[[], float]]) -> None:
        self._groups = groups
        self._start: dict[str, float] = {}
        self._machine: tuple[float, float] = (0.0, 0.0)
        self._wall = 0.0

    def start(self) -> CpuMeter:
        self._start = {name: used() for name, used in self._groups.items()}
        self._machine = machine_cpu_seconds()
        self._wall = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds per group, the machine's busy CPU seconds and its busy share of all cores."""
        used = {name: round(now() - self._start[name], 2) for name, now in self._groups.items()}
        busy, total = machine_cpu_seconds()
        busy -= self._machine[0]
        total -= self._machine[1]
        used["machine_busy"] = round(busy, 2)
        used["machine_busy_share"] = round(busy / total, 3) if total else float("nan")
        used["wall"] = round(time.perf_counter() - self._wall, 2)
        return used


@contextmanager
def quiet(*names: str, level: int = logging.WARNING) -> Iterator[None]:
    """Raise the level of noisy loggers for a while."""
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, old in zip(loggers, before):
            lg.setLevel(old)


def setup_logging(verbose: bool = False) -> None:
    """Progress of the benchmarks on stderr; the servers' request logs stay quiet."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bench").setLevel(logging.DEBUG if verbose else logging.INFO)
    # werkzeug logs every request at INFO unless its logger has a level of its own.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


# The token from the meta tag of a logged-in page, or from a form's hidden field.
_CSRF = re.compile(r'(?:<meta name="csrf-token" content="|name="csrf_token" type="hidden" value=")([^"]+)"')


def csrf_token(page: str) -> str:
    """The CSRF token a storefront page carries."""
    match = _CSRF.search(page)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)
