"""The back office's subscription list: search, filters, pages, and its CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from tests.support.admin_rows import staff_reads_korean, BASE, add_plan, add_subscription, log_in_staff
from tests.support.i18n import KOREAN, english_left

ROW = re.compile(r'data-subscription="(\d+)"')


def shown(client, query: str = "", **headers) -> list[int]:
    response = client.get(f"/admin/subscriptions{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [int(i) for i in ROW.findall(response.get_data(as_text=True))]


@pytest.fixture
def people(app, auth):
    """Three subscribers on two plans, and staff logged in."""
    basic = add_plan(app, "basic", "Basic")
    premium = add_plan(app, "premium", "Premium", price="19.00")
    ada = add_subscription(app, basic, email="ada@lovelace.example", first="Ada", last="Lovelace",
                           payments=[("order-ada-1", "imp_ada_1")])
    grace = add_subscription(app, premium, email="grace@hopper.example", first="Grace",
                             last="Hopper", status="past_due",
                             payments=[("order-grace-1", "imp_grace_1")])
    gildong = add_subscription(app, basic, email="hong@example.kr", first="길동", last="홍",
                               status="canceled")
    log_in_staff(app, auth)
    return {"basic": basic, "premium": premium, "ada": ada, "grace": grace, "gildong": gildong}


def test_lists_every_subscription_newest_first_with_what_staff_need(client, people):
    page = client.get("/admin/subscriptions").get_data(as_text=True)
    assert [int(i) for i in ROW.findall(page)] == [people["gildong"], people["grace"], people["ada"]]
    for text in ("ada@lovelace.example", "Ada Lovelace", "Premium", "past due", "cancelled",
                 "$19.00", f'href="/admin/subscriptions/{people["ada"]}"'):
        assert text in page


def test_search_by_email_ignores_letter_case(client, people):
    assert shown(client, "?q=ADA@Lovelace.example") == [people["ada"]]
    assert shown(client, "?q=hopper.EXAMPLE") == [people["grace"]]


@pytest.mark.parametrize("name", ["Grace", "hopper", "Grace Hopper", "hopper grace"])
def test_search_by_name_in_either_order(client, people, name):
    assert shown(client, f"?q={name}") == [people["grace"]]


def test_search_by_a_hangul_name(client, people):
    assert shown(client, "?q=홍길동") == [people["gildong"]]
    assert shown(client, "?q=길동") == [people["gildong"]]


def test_search_by_order_id_or_imp_uid(client, people):
    assert shown(client, "?q=order-grace-1") == [people["grace"]]
    assert shown(client, "?q=imp_ada_1") == [people["ada"]]
    # A LIKE wildcard is a character like any other.
    assert shown(client, "?q=%25") == []


def test_filters_by_status_and_plan(client, people):
    assert shown(client, "?status=past_due") == [people["grace"]]
    assert shown(client, f"?plan={people['basic']}") == [people["gildong"], people["ada"]]
    assert shown(client, f"?plan={people['basic']}&status=active") == [people["ada"]]
    assert shown(client, f"?plan={people['basic']}&q=grace") == []


@pytest.mark.parametrize("query", ["?status=bogus", "?plan=abc", "?plan=99999999999999999999999"])
def test_a_bad_filter_is_a_clear_400(client, people, query):
    response = client.get(f"/admin/subscriptions{query}")
    assert response.status_code == 400
    assert "Please choose" in response.get_data(as_text=True)


def test_pages_of_fifty(app, client, auth):
    plan = add_plan(app, "basic", "Basic")
    ids = [add_subscription(app, plan, created=BASE + timedelta(hours=i)) for i in range(53)]
    log_in_staff(app, auth)
    newest_first = list(reversed(ids))
    assert shown(client) == newest_first[:50]
    assert shown(client, "?page=2") == newest_first[50:]
    assert shown(client, "?page=3") == []
    for bad in ("0", "-1", "two", "99999999999999999999999999"):
        assert shown(client, f"?page={bad}") == newest_first[:50]
    page = client.get("/admin/subscriptions?page=2").get_data(as_text=True)
    assert "53" in page and "Page 2 of 2" in page


def test_the_list_in_korean(app, client, people):
    staff_reads_korean(app)
    page = client.get("/admin/subscriptions", headers=KOREAN).get_data(as_text=True)
    assert "구독" in page and "미결제" in page and "해지됨" in page
    assert english_left(page, {"Ada", "Lovelace", "Grace", "Hopper", "Basic", "Premium", "Sam",
                               "Staff", "imp", "uid", "CSV"}) == []


def csv_rows(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM"
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


def test_csv_export_of_the_search(app, client, auth):
    plan = add_plan(app, "basic", "Basic")
    evil = add_subscription(app, plan, first='=HYPERLINK("http://x.example","click")', last="Kim",
                            email="evil@example.com")
    add_subscription(app, plan, first="길동", last="홍", email="hong@example.kr")
    for first in ("+1", "-2", "@sum", "\tTab"):
        add_subscription(app, plan, first=first, last="Q", email=f"q{ord(first[0])}@example.com")
    log_in_staff(app, auth)
    response = client.get("/admin/subscriptions.csv?q=evil")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert re.search(r'filename="?subscriptions-\d{4}-\d{2}-\d{2}\.csv', disposition)
    rows = csv_rows(response)
    assert rows[0][:3] == ["ID", "Created", "First name"]
    assert len(rows) == 2
    assert rows[1][0] == str(evil)
    assert rows[1][2] == '\'=HYPERLINK("http://x.example","click")'
    everyone = csv_rows(client.get("/admin/subscriptions.csv"))
    firsts = {row[2] for row in everyone[1:]}
    assert {"길동", "'+1", "'-2", "'@sum", "'\tTab"} <= firsts
    assert "evil@example.com" in {row[4] for row in everyone[1:]}
    assert "hong@example.kr" in {row[4] for row in everyone[1:]}


def test_csv_export_is_streamed(app, client, auth):
    plan = add_plan(app, "basic", "Basic")
    add_subscription(app, plan)
    log_in_staff(app, auth)
    response = client.get("/admin/subscriptions.csv", buffered=False)
    try:
        assert response.is_streamed
    finally:
        response.close()


def test_the_csv_export_in_korean_has_korean_headers(app, client, auth):
    plan = add_plan(app, "basic", "Basic")
    add_subscription(app, plan)
    log_in_staff(app, auth)
    staff_reads_korean(app)
    rows = csv_rows(client.get("/admin/subscriptions.csv", headers=KOREAN))
    assert rows[0][0] == "ID" and rows[0][4] == "이메일"
