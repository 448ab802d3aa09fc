"""Run the sandbox alone: python -m sandbox --host 127.0.0.1 --port 5001."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Sequence

from . import create_app
from .serving import make_server

log = logging.getLogger("sandbox")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, start the workers and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Offline stand-in for iamport (V1 REST API, iamport.js) with Paymentwall as the PG.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5001, help="port to listen on (default 5001)")
    parser.add_argument("--database", help="SQLite file (default: SANDBOX_DATABASE or instance/sandbox.sqlite3)")
    parser.add_argument("--webhook-url", help="default webhook URL (SANDBOX_WEBHOOK_URL)")
    parser.add_argument("--smtp-port", type=int,
                        help="port of the mailbox's SMTP server (default SANDBOX_SMTP_PORT or 1025)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = {}
    if args.database:
        config["SANDBOX_DATABASE"] = args.database
    if args.webhook_url:
        config["SANDBOX_WEBHOOK_URL"] = args.webhook_url
    if args.smtp_port is not None:
        config["SANDBOX_SMTP_PORT"] = args.smtp_port
    app = create_app(config)
    sandbox = app.extensions["sandbox"]
    server = make_server(args.host, args.port, app)
    base = f"http://{args.host}:{server.server_port}"
    sandbox.remember_url(base)
    sandbox.start()

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    log.info("iamport sandbox on %s  (SDK %s/v1/iamport.js, operator page %s/_sandbox)", base, base, base)
    if sandbox.mailbox.running:
        log.info("customer mailbox: SMTP %s:%s, read at %s/_sandbox/mail", sandbox.mailbox.host,
                 sandbox.mailbox.port, base)
    log.info("merchant code %s, REST key %s", sandbox.settings.imp_code, sandbox.settings.api_key)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.server_close()
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
