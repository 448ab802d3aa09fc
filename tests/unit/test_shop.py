"""Catalog and plan pages, error pages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from storefront.cli import seed_plans
from storefront.extensions import db
from storefront.models import Plan


def seed(app):
    with app.app_context():
        seed_plans()


def test_catalog_lists_active_plans_only(client, app):
    seed(app)
    with app.app_context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "premium-monthly")).scalar_one()
        plan.active = False
        db.session.commit()
    page = client.get("/")
    assert page.status_code == 200
    assert b"Basic yearly" in page.data
    assert b"$9.00" in page.data and b"/ month" in page.data
    assert b"$90.00" in page.data and b"/ year" in page.data
    assert b"Premium" not in page.data


def test_catalog_without_plans(client):
    page = client.get("/")
    assert page.status_code == 200
    assert b"No plans are on sale right now." in page.data


def test_plan_page_shows_price_and_next_charge(client, app):
    seed(app)
    page = client.get("/plans/basic-yearly")
    assert page.status_code == 200
    assert b"Basic yearly" in page.data
    assert b"$90.00 every year, from" in page.data
    assert b"Log in to subscribe" in page.data


def test_plan_prices_are_decimal(app):
    seed(app)
    with app.app_context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "basic-monthly")).scalar_one()
        assert plan.price == Decimal("9.00")
        assert isinstance(plan.price, Decimal)


def test_missing_plan_is_404(client, app):
    seed(app)
    page = client.get("/plans/no-such-plan")
    assert page.status_code == 404
    assert b"We could not find that plan." in page.data


def test_errors_answer_json_when_asked(client):
    response = client.get("/plans/nope", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json() == {"error": {"status": 404, "message": "We could not find that plan."}}


def test_405_page(client):
    response = client.delete("/")
    assert response.status_code == 405
    assert b"That method is not allowed here." in response.data


def test_500_page_hides_the_error(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.data
    assert b"secret internals" not in response.data
    response = client.get("/boom", headers={"Accept": "application/json"})
    assert response.get_json()["error"]["status"] == 500


def test_403_and_400_pages(app, client):
    from flask import abort

    @app.get("/forbidden")
    def forbidden():
        abort(403)

    @app.get("/bad")
    def bad():
        abort(400)

    assert client.get("/forbidden").status_code == 403
    assert b"You are not allowed to do that." in client.get("/forbidden").data
    assert client.get("/bad").status_code == 400
    assert b"The request could not be understood." in client.get("/bad").data


def test_pages_link_only_local_assets(client, app):
    seed(app)
    page = client.get("/").data.decode()
    assert "/static/css/style.css" in page
    assert "https://" not in page and "http://" not in page.replace("http://localhost", "")


def test_the_anonymous_catalog_sets_no_cookie_and_shows_a_plan_change_at_once(client, app):
    seed(app)
    first = client.get("/")
    assert "Set-Cookie" not in first.headers
    with app.app_context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "premium-monthly")).scalar_one()
        plan.active = False
        db.session.commit()
    assert b"Premium" not in client.get("/").data  # no copy kept by the shop itself


def test_the_anonymous_catalog_is_cacheable_and_a_conditional_get_answers_304(client, app):
    seed(app)
    page = client.get("/")
    assert page.status_code == 200
    assert page.cache_control.public and page.cache_control.max_age == 5
    assert "Cookie" in page.vary
    etag = page.headers["ETag"]
    again = client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    # A change of the plans changes the page, so a browser's copy is not taken for it.
    with app.app_context():
        plan = db.session.execute(db.select(Plan).where(Plan.slug == "premium-monthly")).scalar_one()
        plan.active = False
        db.session.commit()
    changed = client.get("/", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and b"Premium" not in changed.data
    assert changed.headers["ETag"] != etag


def test_a_logged_in_catalog_is_never_cached(client, app, auth):
    seed(app)
    anonymous_etag = client.get("/").headers["ETag"]
    assert auth.register().status_code == 302
    page = client.get("/", headers={"If-None-Match": anonymous_etag})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "ETag" not in page.headers
    assert b"Log out" in page.data


def test_opening_the_callbacks_address_says_what_it_is_for(client, app, auth):
    """`/checkout/complete` takes the payment window's answer by POST; a shopper who opens it
    (from the history, say) is not told a plan is missing."""
    with app.app_context():
        seed_plans()
    auth.register()
    page = client.get("/checkout/complete")
    assert page.status_code == 405 and page.headers["Allow"] == "POST"
    text = page.get_data(as_text=True)
    assert "payment window" in text and "could not find that plan" not in text
    assert 'href="/account"' in text


def test_pages_name_their_icon_so_browsers_do_not_ask_for_a_missing_one(client):
    page = client.get("/").get_data(as_text=True)
    icon = page.split('<link rel="icon" href="', 1)[1].split('"', 1)[0]
    response = client.get(icon)
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    response.close()


@pytest.mark.parametrize("translations", [
    {"ko": "베이직"}, {"ko": {"features": "모든 기능"}}, ["ko"], {"ko": {"name": 5}},
])
def test_a_plans_korean_texts_typed_wrong_show_its_own_texts(app, translations):
    from storefront.models import Plan
    from tests.support.i18n import KOREAN

    plan = Plan(slug="p", name="Basic", description="Plain.", features=["One"],
                translations=translations)
    with app.test_request_context(headers=KOREAN):
        assert plan.shown_name == "Basic"
        assert plan.shown_features == ["One"]
        assert plan.shown_description == "Plain."


@pytest.mark.parametrize(("price", "currency"), [(Decimal("9900.5"), "KRW"), (Decimal("9.001"), "USD")])
def test_a_price_the_currency_cannot_carry_is_refused_where_the_plan_is_written(app, price, currency):
    with app.app_context():
        db.session.add(Plan(slug="odd", name="Odd", price=price, currency=currency))
        with pytest.raises(ValueError, match="decimal places"):
            db.session.commit()
        db.session.rollback()
        assert db.session.execute(db.select(Plan).where(Plan.slug == "odd")).first() is None
