"""A small HTTP/1.1 load generator for when `wrk` is not installed (asyncio, keep-alive when
the server allows it). Run in its own process so that it does not share a GIL with anything:

    python -m bench.loadgen http://127.0.0.1:8000/ --connections 16 --duration 5 [-H "Cookie: ..."]

It prints one JSON object: requests, seconds, requests_per_second, p50_ms, p99_ms, errors, non_2xx_3xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.common import percentile

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    non_2xx_3xx: int = 0


class Closed(Exception):
    """The server closed the connection before a whole answer arrived."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one answer; returns (status, whether the connection may be reused)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise Closed from exc
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip().lower()
    keep = version == "HTTP/1.1" and headers.get("connection") != "close"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()  # until the server closes
        keep = False
    return int(status), keep


async def connection(host: str, port: int, request: bytes, deadline: float, stats: Stats) -> None:
    writer = None
    reader = None
    while time.perf_counter() < deadline:
        if writer is None:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
            except (TimeoutError, OSError):
                stats.errors += 1
                await asyncio.sleep(0.01)
                continue
        started = time.perf_counter()
        try:
            writer.write(request)
            status, keep = await asyncio.wait_for(read_response(reader), READ_TIMEOUT)
        except (TimeoutError, OSError, Closed, ValueError):
            stats.errors += 1
            writer.close()
            writer = None
            continue
        stats.latencies.append(time.perf_counter() - started)
        if not 200 <= status < 400:
            stats.non_2xx_3xx += 1
        if not keep:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def load(url: str, connections: int, duration: float, headers: list[str]) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: bench-loadgen", *headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    stats = Stats()
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(*(connection(host, port, request, deadline, stats) for _ in range(connections)))
    seconds = time.perf_counter() - started
    done = len(stats.latencies)
    return {
        "requests": done,
        "seconds": round(seconds, 3),
        "requests_per_second": round(done / seconds, 1),
        "p50_ms": round(percentile(stats.latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(stats.latencies, 99) * 1000, 2),
        "errors": stats.errors,
        "non_2xx_3xx": stats.non_2xx_3xx,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="HTTP/1.1 load generator (the fallback for wrk)")
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("-H", "--header", action="append", default=[])
    args = parser.parse_args(argv)
    result = asyncio.run(load(args.url, args.connections, args.duration, args.header))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
