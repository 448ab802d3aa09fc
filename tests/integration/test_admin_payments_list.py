"""The back office's payment list: filters by status, kind, currency and dates in the shop's zone."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from storefront.extensions import db
from storefront.models import Payment
from tests.support.admin_rows import staff_reads_korean, add_payment, add_plan, add_subscription, log_in_staff
from tests.support.i18n import KOREAN, english_left

ROW = re.compile(r'data-payment="(\d+)"')
UTC = timezone.utc


def shown(client, query: str = "") -> list[int]:
    response = client.get(f"/admin/payments{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return [int(i) for i in ROW.findall(response.get_data(as_text=True))]


@pytest.fixture
def paid(app, auth):
    """Four payments of two subscribers, and staff logged in (the shop's zone is Asia/Seoul)."""
    plan = add_plan(app, "basic", "Basic")
    won = add_plan(app, "won", "Won", price="9900", currency="KRW")
    ada = add_subscription(app, plan, email="ada@example.org", first="Ada", last="Lovelace")
    kim = add_subscription(app, won, email="kim@example.kr", first="민준", last="김")
    rows = {
        # 30 Nov 23:30 in Seoul is still 30 Nov 14:30 UTC.
        "first": add_payment(app, ada, merchant_uid="order-a", imp_uid="imp_a", kind="first",
                             paid_at=datetime(2026, 11, 30, 14, 30, tzinfo=UTC)),
        # 1 Dec 00:30 in Seoul is 30 Nov 15:30 UTC: in December for the shop.
        "renewal": add_payment(app, ada, merchant_uid="order-b", imp_uid="imp_b",
                               paid_at=datetime(2026, 11, 30, 15, 30, tzinfo=UTC)),
        "failed": add_payment(app, kim, merchant_uid="order-c", status="failed", amount="9900",
                              currency="KRW", created=datetime(2026, 12, 5, 1, 0, tzinfo=UTC)),
        # A scheduled renewal is dated by when iamport runs it, not when its row was written.
        "scheduled": add_payment(app, kim, merchant_uid="order-d", status="scheduled",
                                 amount="9900", currency="KRW",
                                 created=datetime(2026, 11, 1, tzinfo=UTC)),
    }
    with app.app_context():
        db.session.get(Payment, rows["scheduled"]).scheduled_at = datetime(2026, 12, 31, tzinfo=UTC)
        db.session.commit()
    log_in_staff(app, auth)
    return rows


def test_newest_first_with_its_columns(client, paid):
    page = client.get("/admin/payments").get_data(as_text=True)
    assert [int(i) for i in ROW.findall(page)] == [paid["scheduled"], paid["failed"],
                                                   paid["renewal"], paid["first"]]
    for text in ("order-a", "imp_a", "Ada Lovelace", "ada@example.org", "$9.00", "₩9,900",
                 "First payment", "Renewal", "failed", "scheduled",
                 f'href="/admin/payments/{paid["first"]}"'):
        assert text in page


def test_filters_by_status_kind_and_currency(client, paid):
    assert shown(client, "?status=failed") == [paid["failed"]]
    assert shown(client, "?kind=first") == [paid["first"]]
    assert shown(client, "?currency=KRW") == [paid["scheduled"], paid["failed"]]
    assert shown(client, "?currency=KRW&status=paid") == []


def test_dates_are_the_shops_days(client, paid):
    assert shown(client, "?date_from=2026-12-01") == [paid["scheduled"], paid["failed"],
                                                      paid["renewal"]]
    assert shown(client, "?date_to=2026-11-30") == [paid["first"]]
    assert shown(client, "?date_from=2026-12-01&date_to=2026-12-05") == [paid["failed"],
                                                                        paid["renewal"]]


@pytest.mark.parametrize("query, message", [
    ("?date_from=2026-13-45", "Please enter the date as YYYY-MM-DD"),
    ("?date_to=yesterday", "Please enter the date as YYYY-MM-DD"),
    ("?date_from=2026-12-05&date_to=2026-12-01", "The start date is after the end date"),
    ("?status=nope", "Please choose"),
    ("?kind=nope", "Please choose"),
    ("?currency=X%00", "Please choose"),
    ("?page=abc", None),
])
def test_bad_input_gets_a_message_not_a_500(client, paid, query, message):
    response = client.get(f"/admin/payments{query}")
    if message is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_a_bad_date_in_korean(app, client, paid):
    staff_reads_korean(app)
    response = client.get("/admin/payments?date_from=2026-99-01", headers=KOREAN)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "YYYY-MM-DD" in page
    assert english_left(page, {"Sam", "Staff", "YYYY-MM-DD", "YYYY", "MM", "DD", "imp", "uid"}) == []


def test_the_payment_list_in_korean(app, client, paid):
    staff_reads_korean(app)
    page = client.get("/admin/payments", headers=KOREAN).get_data(as_text=True)
    assert "결제" in page and "9,900원" in page
    assert english_left(page, {"Ada", "Lovelace", "Sam", "Staff", "order-a", "order-b",
                               "order-c", "order-d", "imp_a", "imp_b", "imp", "uid", "order"}) == []
