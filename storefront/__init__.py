"""The storefront's application factory."""

from __future__ import annotations

import logging
from typing import Any

from dotenv import load_dotenv
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from storefront import config as settings
from storefront import config_iamport
from storefront import extensions


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the storefront app; `config` overrides settings read from the environment."""
    load_dotenv(settings.ROOT / ".env")
    app = Flask(
        __name__,
        template_folder=str(settings.ROOT / "templates"),
        static_folder=str(settings.ROOT / "static"),
        instance_path=str(settings.INSTANCE),
    )
    app.config.update(settings.load(config))
    logging.basicConfig(
        level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config_iamport.warn_of_overrides(app.config)
    if app.config["PROXY_HOPS"]:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=app.config["PROXY_HOPS"], x_proto=app.config["PROXY_HOPS"]
        )

    extensions.db.init_app(app)
    extensions.migrate.init_app(
        app, extensions.db, directory=str(settings.ROOT / "migrations"), render_as_batch=True
    )
    extensions.login_manager.init_app(app)
    extensions.csrf.init_app(app)
    extensions.iamport.init_app(app)
    extensions.mail.init_app(app)

    from storefront import (
        account, admin, auth, business, card, checkout, cli, clock, consents, errors, formatting, i18n,
        legal, mail, plan_change_views, ratelimits, security, self_service, shop, webhooks, wording,
    )

    clock.register(app)
    app.register_blueprint(shop.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(card.bp)
    app.register_blueprint(plan_change_views.bp)
    app.register_blueprint(self_service.bp)
    app.register_blueprint(checkout.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(legal.bp)
    app.register_blueprint(admin.bp)
    consents.register(app)
    i18n.register(app)
    errors.register(app)
    formatting.register(app)
    wording.register(app)
    business.register(app)
    security.register(app)
    mail.init_app(app)
    # After the blueprints: the limits wrap their views.
    ratelimits.register(app)
    cli.register(app)
    return app
