"""The storefront served over HTTP on the sandbox, and the browser-less shoppers who use it."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape
from typing import Any

import requests

from storefront import create_app
from storefront.cli import seed_plans
from storefront.extensions import db
from tests.support.accounts import CONSENTS
from tests.support.apps import close_database, database_url, track_connections
from tests.support.pages import csrf_token
from tests.support.sandbox import RunningSandbox
from tests.support.servers import ServedApp, serve_wsgi

_PARAMS = re.compile(r'<script id="checkout-params" type="application/json">(.*?)</script>', re.S)
CHARGE_TOKEN = re.compile(r'name="charge_token" value="([^"]+)"')


@dataclass
class Shop:
    """The storefront served over HTTP, with helpers to act as shoppers."""

    app: Any
    served: ServedApp
    sandbox: RunningSandbox
    sessions: list[requests.Session] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.served.url

    def stop(self) -> None:
        """Take no more requests, let those in progress finish (with what they left for after
        the answer), stop serving, close the database."""
        for http in self.sessions:
            http.close()
        # Closed first, then waited for: a request let in after the wait (a late webhook of the
        # sandbox, a browser's poll on a kept connection) would use the database while it is
        # disposed, and leave a connection for the garbage collector to report in a later test.
        idle = self.served.close(timeout=30)
        self.served.stop()
        assert idle, "requests still running 30 s after the shop stopped taking new ones"
        close_database(self.app)

    def shopper(self, email: str = "ada@example.com", first: str = "Ada",
                last: str = "Lovelace") -> "Shopper":
        """A new browser-less shopper, registered and logged in."""
        http = requests.Session()
        self.sessions.append(http)
        shopper = Shopper(self, http, email)
        # Registering hashes a password (scrypt): a soak's two dozen at once on a busy machine
        # take more than the usual few seconds.
        page = http.get(f"{self.url}/auth/register", timeout=30)
        response = http.post(f"{self.url}/auth/register", data={
            "csrf_token": shopper.csrf(page.text), "first_name": first, "last_name": last,
            "email": email, "password": "correct horse", "confirm": "correct horse", **CONSENTS,
        }, timeout=30)
        assert response.status_code == 200 and response.url.endswith("/account"), response.text[:500]
        return shopper

    def context(self):
        """An app context for looking at the storefront's database."""
        return self.app.app_context()


@dataclass
class Shopper:
    """One shopper's session with the storefront."""

    shop: Shop
    http: requests.Session
    email: str

    @staticmethod
    def csrf(page: str) -> str:
        return csrf_token(page)

    def use_language(self, language: str) -> None:
        """Read the shop in `language`: the browser asks for it, and the switch saves it on the
        account (which keeps the language it signed up in until then)."""
        self.http.headers["Accept-Language"] = "ko-KR,ko;q=0.9" if language == "ko" else "en-US"
        self.http.post(f"{self.shop.url}/language", data={"language": language, "next": "/"},
                       timeout=10)

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return self.http.get(f"{self.shop.url}{path}", **kwargs)

    def window_page(self, path: str) -> dict:
        """GET a page that opens the payment window (the checkout, the new card): the parameters
        its script has (where to open the order, the price shown, the consent's version on the
        checkout) and the page's CSRF token."""
        page = self.get(path)
        assert page.status_code == 200, page.text[:500]
        params = json.loads(unescape(_PARAMS.search(page.text).group(1)))
        params["csrf"] = self.csrf(page.text)
        return params

    def checkout_page(self, slug: str = "basic-monthly") -> dict:
        """GET /checkout/<slug> (see window_page)."""
        return self.window_page(f"/checkout/{slug}")

    def open_order(self, params: dict) -> requests.Response:
        """What the page's script does once pay is pressed (on the checkout, with the consent box
        ticked): POST the price shown and the consent, which opens the order; answers the SDK's
        parameters."""
        body = {"amount": params["amount"], "currency": params["currency"]}
        if "consent_version" in params:
            body["consent"] = params["consent_version"]
        return self.http.post(
            f"{self.shop.url}{params['order_url']}", json=body,
            headers={"X-CSRFToken": params["csrf"], "Accept": "application/json"}, timeout=15,
        )

    def opened(self, params: dict) -> dict:
        """A window page's parameters with its order opened: the SDK's parameters added."""
        opened = self.open_order(params)
        assert opened.status_code == 200, opened.text[:500]
        params.update(opened.json())
        return params

    def open_checkout(self, slug: str = "basic-monthly") -> dict:
        """The checkout page, then its order opened with the consent: the SDK's parameters and
        the page's CSRF token."""
        return self.opened(self.checkout_page(slug))

    def open_card_change(self, sub_id: int) -> dict:
        """The new-card page, then its order opened: the SDK's parameters and the page's CSRF
        token."""
        return self.opened(self.window_page(f"/account/subscriptions/{sub_id}/card"))

    def pay_in_window(self, params: dict, mode: str = "pc", **card) -> Any:
        """What the SDK does: open the window with the page's parameters and submit a card."""
        opened = self.shop.sandbox.open_window(params["pay"], mode=mode, imp_code=params["imp_code"],
                                               origin=self.shop.url)
        assert opened["ok"], opened
        return self.shop.sandbox.submit_window(opened["window_url"], **card)

    def complete(self, params: dict, imp_uid: str, merchant_uid: str | None = None) -> requests.Response:
        """The desktop callback's POST /checkout/complete."""
        return self.http.post(
            f"{self.shop.url}/checkout/complete",
            json={"imp_uid": imp_uid, "merchant_uid": merchant_uid or params["pay"]["merchant_uid"]},
            headers={"X-CSRFToken": params["csrf"], "Accept": "application/json"}, timeout=15,
        )

    def charge_now(self, subscription_id: int, token: str | None = None,
                   follow: bool = True) -> requests.Response:
        """Submit the "Charge now" confirmation form (with its own token unless given one).

        When the charge is refused the confirmation page sends the shopper back to the account
        page, which has no token; the form is then posted with a fresh one, as a stale tab would."""
        path = f"/account/subscriptions/{subscription_id}/charge"
        page = self.get(path)
        found = CHARGE_TOKEN.search(page.text)
        token = token or (found.group(1) if found else secrets.token_urlsafe(24))
        return self.http.post(
            f"{self.shop.url}{path}",
            data={"csrf_token": self.csrf(page.text), "charge_token": token}, timeout=30,
            allow_redirects=follow,
        )

    def post_form(self, path: str, data: dict) -> requests.Response:
        page = self.get("/account")
        return self.http.post(f"{self.shop.url}{path}",
                              data={"csrf_token": self.csrf(page.text), **data}, timeout=30)


def webhook(shop: Shop, imp_uid: str, merchant_uid: str = "", status: str = "paid",
            form: bool = False) -> requests.Response:
    """Deliver a webhook to the storefront the way iamport does."""
    body = {"imp_uid": imp_uid, "merchant_uid": merchant_uid, "status": status}
    kwargs = {"data": body} if form else {"json": body}
    return requests.post(f"{shop.url}/iamport/webhook", timeout=15, **kwargs)


def make_shop(tmp_path, sandbox: RunningSandbox, **overrides) -> Shop:
    """A storefront wired to the sandbox, served on its own port."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "integration-secret",
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path),
        **sandbox.storefront_settings(),
        "IAMPORT_READ_TIMEOUT": 2.0,
        "IAMPORT_RETRY_BACKOFF": 0,
        "RECONCILE_MIN_AGE": timedelta(0),
        # Shoppers, callbacks and webhooks all come from 127.0.0.1 here, by the hundred.
        "RATELIMIT_ENABLED": False,
        # Tests in Korean ask for it (a browser's locale or Accept-Language).
        "DEFAULT_LOCALE": "en",
    }
    # The port is taken first, so that the app starts knowing its address (live mode refuses to
    # start without PUBLIC_URL); requests wait for no app, as none is sent before this returns.
    served = serve_wsgi(_not_started)
    try:
        app = create_app({**config, "PUBLIC_URL": served.url, **overrides})
        track_connections(app)
        with app.app_context():
            db.drop_all()
            db.create_all()
            seed_plans()
    except BaseException:
        served.stop()
        raise
    served.app.app = app
    return Shop(app=app, served=served, sandbox=sandbox)


def _not_started(environ: dict, start_response: Any) -> list[bytes]:
    """What the shop's port answers before its app is made (nothing asks then)."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"the storefront is starting"]


def confirmation(shopper: Shopper, sub_id: int) -> tuple[str, str]:
    """The charge confirmation page's CSRF token and charge token."""
    page = shopper.get(f"/account/subscriptions/{sub_id}/charge")
    assert page.status_code == 200, page.text[:300]
    return shopper.csrf(page.text), CHARGE_TOKEN.search(page.text).group(1)
