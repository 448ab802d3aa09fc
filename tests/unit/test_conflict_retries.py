"""A change of a subscription the database aborted for a concurrent one is tried again."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from storefront.billing.common import retried_on_conflict


class Aborted(Exception):
    """What the driver raises, with PostgreSQL's code for why."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def flaky(failures: list[str]):
    """A change that the database aborts once for each code in `failures`, then commits."""
    tries = []

    @retried_on_conflict
    def change() -> int:
        tries.append(1)
        if failures:
            raise OperationalError("UPDATE payments …", {}, Aborted(failures.pop(0)))
        return len(tries)

    return change


def test_a_change_aborted_as_a_deadlock_is_tried_again(app):
    with app.app_context():
        assert flaky(["40P01"])() == 2
        assert flaky(["40001"])() == 2


def test_other_database_errors_are_not_tried_again(app):
    with app.app_context(), pytest.raises(OperationalError):
        flaky(["08006"])()  # the connection was lost: not a conflict
