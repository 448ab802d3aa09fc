"""Who reaches the back office: staff only, and no one else learns that it exists."""

from __future__ import annotations

import pytest

from storefront.extensions import db
from storefront.models import User
from tests.support.page_text import without_csrf

ADMIN_PAGES = ["/admin", "/admin/", "/admin/no-such-page"]


def staff_flag(app, email: str) -> bool:
    with app.app_context():
        return db.session.execute(db.select(User.is_staff).where(User.email == email)).scalar_one()


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_a_visitor_who_is_not_logged_in_gets_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404
    # The very page any unknown address gets: nothing says a back office is here.
    unknown = client.get("/nothing-here")
    assert without_csrf(response.get_data(as_text=True).replace(path, "")) == \
        without_csrf(unknown.get_data(as_text=True).replace("/nothing-here", ""))


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_a_shopper_gets_not_found(client, auth, path):
    auth.register()
    response = client.get(path)
    assert response.status_code == 404
    assert "Back office" not in client.get("/").get_data(as_text=True)


def test_staff_granted_by_the_command_reach_the_dashboard(app, client, auth, runner):
    auth.register()
    result = runner.invoke(args=["staff", "grant", "ADA@example.com"])
    assert result.exit_code == 0, result.output
    assert staff_flag(app, "ada@example.com") is True
    auth.login()
    page = client.get("/admin/", follow_redirects=True)
    assert page.status_code == 200
    assert "Dashboard" in page.get_data(as_text=True)
    # The shop's own header leads staff there.
    assert 'href="/admin"' in client.get("/").get_data(as_text=True)


def test_revoke_ends_access_and_the_staff_session(app, client, auth, runner):
    auth.register()
    runner.invoke(args=["staff", "grant", "ada@example.com"])
    auth.login()
    assert client.get("/admin/").status_code == 200
    result = runner.invoke(args=["staff", "revoke", "ada@example.com"])
    assert result.exit_code == 0, result.output
    assert staff_flag(app, "ada@example.com") is False
    assert client.get("/admin/").status_code == 404
    auth.login()
    assert client.get("/admin/").status_code == 404


def test_grant_to_an_unknown_address_says_so_and_changes_nothing(app, runner):
    result = runner.invoke(args=["staff", "grant", "nobody@example.com"])
    assert result.exit_code != 0
    assert "No account" in result.output


@pytest.mark.parametrize("method, path", [
    ("get", "/admin/plans/1/sale"), ("put", "/admin/payments"), ("delete", "/admin/audit"),
])
def test_a_wrong_method_tells_a_shopper_nothing_either(client, auth, method, path):
    auth.register()
    assert getattr(client, method)(path).status_code == 404


def test_a_wrong_method_is_a_405_for_staff(client, auth, runner):
    auth.register()
    runner.invoke(args=["staff", "grant", "ada@example.com"])
    auth.login()
    assert client.put("/admin/payments").status_code == 405


@pytest.mark.parametrize("path", [
    "/admin/audit/99999999999999999999", "/admin/webhooks/99999999999999999999",
    "/admin/webhooks/99999999999999999999/verify", "/admin/plans/99999999999999999999/edit",
    "/admin/payments/99999999999999999999/verify", "/admin/subscriptions/2147483648/schedule",
    "/admin/payments/2147483648/refund", "/admin/subscriptions/99999999999999999999/cancel",
])
def test_ids_past_what_the_database_holds_are_not_found(client, auth, runner, path):
    auth.register()
    runner.invoke(args=["staff", "grant", "ada@example.com"])
    auth.login()
    assert client.get(path).status_code == 404
    if path.endswith(("/verify", "/schedule", "/refund", "/cancel")):
        assert client.post(path).status_code == 404
