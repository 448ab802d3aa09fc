"""The offline iamport + Paymentwall sandbox: its own WSGI app, store and background workers."""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Mapping

from flask import Flask, Response, redirect, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from .envelope import CODE_FAILED, envelope
from .money import as_number
from .runtime import Sandbox
from .settings import Settings

__all__ = ["create_app", "Sandbox", "Settings"]

log = logging.getLogger(__name__)

# Paths whose errors are answered in iamport's JSON envelope rather than as an HTML page.
_HTML_PREFIXES = ("/window/", "/_sandbox")


class SandboxJSONProvider(DefaultJSONProvider):
    """JSON with exact amounts written as numbers (Flask's default writes Decimal as a string)."""

    sort_keys = False
    ensure_ascii = False

    @staticmethod
    def default(o: Any) -> Any:
        """Decimal -> number, everything else as Flask does."""
        if isinstance(o, Decimal):
            return as_number(o)
        return DefaultJSONProvider.default(o)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build a sandbox app; its workers start on the first request or with extensions['sandbox'].start()."""
    config = dict(config or {})
    settings = Settings.from_config(config)
    # Templates and static files are the package's own (sandbox/templates, sandbox/static), Flask's default.
    app = Flask(__name__)
    app.json = SandboxJSONProvider(app)
    app.config.update({k: v for k, v in config.items() if k.isupper()})
    sandbox = Sandbox(settings)
    app.extensions["sandbox"] = sandbox

    from . import api, mail_views, operator, sdk, window

    app.register_blueprint(api.bp)
    app.register_blueprint(sdk.bp)
    app.register_blueprint(window.bp)
    app.register_blueprint(operator.bp)
    app.register_blueprint(mail_views.bp)

    @app.before_request
    def _autostart() -> None:
        # Workers start lazily so that building an app (in tests, in a CLI) costs no threads.
        if settings.autostart and not sandbox.started:
            sandbox.start()
        sandbox.remember_url(request.host_url)

    @app.get("/")
    def _index() -> Response:
        return redirect("/_sandbox")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if request.path.startswith(_HTML_PREFIXES):
            return exc
        return envelope(None, code=CODE_FAILED, message=exc.description or exc.name, status=exc.code or 500)

    log.debug("sandbox app created with database %s", settings.database_path)
    return app
