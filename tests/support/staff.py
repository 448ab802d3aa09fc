"""A staff member on the served shop, and the back office's confirmation forms submitted as a browser would."""

from __future__ import annotations

import re

import requests

from storefront.extensions import db
from storefront.models import User
from tests.support.shop import Shop, Shopper

STAFF = "sam@example.com"
TOKEN = re.compile(r'name="token" type="hidden" value="([^"]+)"')


def staff_member(shop: Shop) -> Shopper:
    """Sam, made staff, logged in afresh (the shopper's session ends when it becomes staff)."""
    sam = shop.shopper(email=STAFF, first="Sam", last="Staff")
    with shop.context():
        db.session.execute(db.update(User).where(User.email == STAFF).values(is_staff=True))
        db.session.commit()
    page = sam.get("/auth/login")
    response = sam.http.post(f"{shop.url}/auth/login", timeout=10, data={
        "csrf_token": sam.csrf(page.text), "email": STAFF, "password": "correct horse"})
    assert response.status_code == 200, response.text[:300]
    assert sam.get("/admin").status_code == 200
    return sam


def confirm(staff: Shopper, path: str, reason: str = "the customer called",
            token: str | None = None, **extra) -> tuple[requests.Response, str]:
    """Open the confirmation page, then submit it (with its own token unless given one)."""
    page = staff.get(path)
    assert page.status_code == 200, page.text[:300]
    token = token or TOKEN.search(page.text).group(1)
    response = staff.http.post(f"{staff.shop.url}{path}", timeout=30, data={
        "csrf_token": staff.csrf(page.text), "token": token, "reason": reason, **extra})
    return response, token


def calls(shop: Shop, monkeypatch, method: str, prefix: str) -> list[str]:
    """The paths the shop's iamport client asks for from now on, of one method and prefix."""
    client = shop.app.extensions["iamport"]
    seen: list[str] = []
    original = client._call

    def spy(call_method, path, *args, **kwargs):
        if call_method == method and path.startswith(prefix):
            seen.append(path)
        return original(call_method, path, *args, **kwargs)

    monkeypatch.setattr(client, "_call", spy)
    return seen
