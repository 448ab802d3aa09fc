"""Run a command against a throwaway PostgreSQL cluster: `python -m tests.support.pgcluster -- CMD`.

The cluster lives in a temporary folder on a free port of 127.0.0.1 and is removed afterwards.
As root, PostgreSQL's tools run as the `postgres` user (it refuses to run as root).
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("pgcluster")


class NoPostgres(RuntimeError):
    """No PostgreSQL server binaries could be found or installed."""


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl, newest version first."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def install_postgres() -> None:
    """Install Debian's PostgreSQL server (only as root, only when missing)."""
    if os.geteuid() != 0:
        raise NoPostgres("PostgreSQL is not installed and we are not root to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env,
                   timeout=900)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass(frozen=True)
class Cluster:
    """A running throwaway cluster: its SQLAlchemy URL and its data folder."""

    url: str
    data_dir: Path


@contextmanager
def cluster(dbname: str = "storefront_test", durable: bool = False) -> Iterator[Cluster]:
    """Start a cluster with one database and yield it; stop and delete it on exit.

    Tests want speed (no fsync); `durable` keeps the server's default durability, as the
    benchmarks need to measure what a deployment would see.
    """
    bindir = find_bindir()
    if bindir is None:
        install_postgres()
        bindir = find_bindir()
    if bindir is None:
        raise NoPostgres("no initdb/pg_ctl found after installing postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="storefront-pg-"))
    data = workdir / "data"
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        fast = [] if durable else ["--no-sync"]
        subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8", *fast]), **run)
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not durable:
            options += " -c fsync=off"
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                                     "-l", str(workdir / "log"), "-w", "start"]), **run)
        subprocess.run(_as_postgres([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                                     "-U", "postgres", dbname]), **run)
        log.info("PostgreSQL %s running on 127.0.0.1:%s", bindir.parent.name, port)
        yield Cluster(f"postgresql+psycopg://postgres@127.0.0.1:{port}/{dbname}", data)
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                     "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    """Start a cluster, run the command with TEST_DATABASE_URL set, stop the cluster."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = [c for c in args.command if c != "--"] or ["true"]
    try:
        with cluster() as running:
            env = dict(os.environ, TEST_DATABASE_URL=running.url)
            return subprocess.run(command, env=env).returncode
    except (NoPostgres, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        log.error("!!! NO POSTGRESQL: the PostgreSQL leg did NOT run: %s %s", exc, detail)
        # On a developer's machine the SQLite leg still counts; CI must run both.
        return 3 if os.environ.get("CI") else 0


if __name__ == "__main__":
    sys.exit(main())
