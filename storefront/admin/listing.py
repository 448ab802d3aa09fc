"""What the back office's lists share: a page of rows cut in SQL, and the choices a filter accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import sqlalchemy as sa
from flask import request
from flask_babel import gettext as _

from storefront.extensions import db

PAGE_SIZE = 50
# Far beyond any real list; a larger number is treated as a typo (first page), not sent to SQL.
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, the total count of the list, and where it is."""

    rows: Sequence[Any]
    total: int
    number: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages the list has (one, even when empty)."""
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_number() -> int:
    """The `page` asked for; anything but a whole number from 1 up is the first page."""
    text = request.args.get("page", "")
    if not text.isdigit() or len(text) > 7:
        return 1
    return min(max(int(text), 1), MAX_PAGE)


def fetch_page(rows_query: sa.Select, count_query: sa.Select, number: int) -> Page:
    """The rows of page `number` (LIMIT/OFFSET) and the list's size: two queries in all."""
    rows = db.session.execute(rows_query.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE))
    total = db.session.execute(count_query).scalar_one()
    return Page(rows=rows.unique().scalars().all(), total=total, number=number)


def choice(name: str, label: str, allowed: Sequence[str], errors: list[str]) -> str | None:
    """The value of the select `name` (shown as `label`) if it is one of `allowed`; None when not given. A value
    it cannot be (a link typed by hand) adds a message to `errors`."""
    value = request.args.get(name, "")
    if value == "":
        return None
    if value not in allowed:
        errors.append(_("Please choose one of the listed values for “%(field)s”.", field=label))
        return None
    return value


def page_args(**changes: Any) -> dict[str, Any]:
    """The list's current search and filters with `changes`, for a link to another page of it."""
    args = {key: value for key, value in request.args.items() if value != ""}
    args.update(changes)
    return {key: value for key, value in args.items() if value not in (None, "")}
