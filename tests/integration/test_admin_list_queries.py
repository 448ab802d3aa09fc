"""Each back-office list asks the database the same number of times for 3 rows as for 30 (no N+1)."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from storefront.extensions import db
from tests.support.accounts import AuthActions
from tests.support.apps import close_database, make_app
from tests.support.admin_rows import add_payment, add_plan, add_subscription, log_in_staff

LIST_PAGES = {
    "/admin/subscriptions": r'data-subscription="\d+"',
    "/admin/subscriptions?q=example": r'data-subscription="\d+"',
    "/admin/payments": r'data-payment="\d+"',
    "/admin/payments?currency=USD&date_from=2020-01-01": r'data-payment="\d+"',
    "/admin/plans": r'data-plan="[\w-]+"',
}


@contextmanager
def counted(app):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def seed(app, rows: int) -> None:
    for n in range(rows):
        plan = add_plan(app, f"plan-{n}", f"Plan {n}")
        sub = add_subscription(app, plan, payments=[(f"first-{n}", f"imp_{n}")])
        add_payment(app, sub)


def queries_for(app, client, path: str, row_marker: str) -> tuple[int, int]:
    with counted(app) as statements:
        page = client.get(path)
    assert page.status_code == 200
    return len(statements), len(re.findall(row_marker, page.get_data(as_text=True)))


@pytest.mark.parametrize("path", LIST_PAGES)
def test_the_number_of_queries_does_not_grow_with_the_rows(tmp_path, path):
    counts = {}
    for rows in (3, 30):
        (tmp_path / str(rows)).mkdir()
        app = make_app(tmp_path / str(rows))
        try:
            client = app.test_client()
            log_in_staff(app, AuthActions(client))
            seed(app, rows)
            queries, shown = queries_for(app, client, path, LIST_PAGES[path])
        finally:
            close_database(app)
        assert shown >= rows
        counts[rows] = queries
    assert counts[30] == counts[3], counts
    assert counts[3] <= 6, counts
