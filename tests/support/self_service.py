"""Shoppers of the served shop using account self-service, and the links their mail brings."""

from __future__ import annotations

import re

import requests

from tests.support.accounts import CONSENTS
from tests.support.pages import csrf_token
from tests.support.shop import Shop

PASSWORD = "correct horse"
LINK = re.compile(r"https?://\S+")


def browser(shop: Shop, headers: dict | None = None) -> requests.Session:
    """A browser-less visitor (in the language its headers ask for); closed with the shop."""
    http = requests.Session()
    http.headers.update(headers or {})
    shop.sessions.append(http)
    return http


def sign_up(shop: Shop, email: str, headers: dict | None = None, first: str = "Ada",
            last: str = "Lovelace") -> requests.Session:
    """Register (and so log in) a new account from a new visitor."""
    http = browser(shop, headers)
    page = http.get(f"{shop.url}/auth/register", timeout=10)
    response = http.post(f"{shop.url}/auth/register", data={
        "csrf_token": csrf_token(page.text), "first_name": first, "last_name": last,
        "email": email, "password": PASSWORD, "confirm": PASSWORD, **CONSENTS}, timeout=10)
    assert response.status_code == 200 and response.url.endswith("/account"), response.text[:500]
    return http


def log_in(shop: Shop, http: requests.Session, email: str, password: str = PASSWORD) -> requests.Response:
    page = http.get(f"{shop.url}/auth/login", timeout=10)
    return http.post(f"{shop.url}/auth/login", data={
        "csrf_token": csrf_token(page.text), "email": email, "password": password}, timeout=10)


def submit(shop: Shop, http: requests.Session, path: str, data: dict | None = None,
           page_path: str | None = None) -> requests.Response:
    """GET the page (for its CSRF token), then POST its form."""
    url = path if path.startswith("http") else f"{shop.url}{path}"
    page = http.get(page_path or url, timeout=10)
    assert page.status_code == 200, page.text[:300]
    return http.post(url, data={"csrf_token": csrf_token(page.text), **(data or {})}, timeout=30)


def link_in(mail: dict, path: str) -> str:
    """The link of the mail's text that goes to `path` (the same link is in its HTML)."""
    links = [link for link in LINK.findall(mail["text"]) if path in link]
    assert links, mail["text"]
    assert links[0] in mail["html"]
    return links[0]


def logged_in(shop: Shop, http: requests.Session) -> bool:
    return http.get(f"{shop.url}/account", timeout=10, allow_redirects=False).status_code == 200
