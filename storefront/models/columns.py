"""How columns store values: aware UTC times, money, StrEnums, the CHECK lists of their values."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa

from storefront import clock


def utcnow() -> datetime:
    """The system's time, timezone-aware in UTC (sessions, tokens, log-in throttles)."""
    return datetime.now(timezone.utc)


def shop_now() -> datetime:
    """The shop's clock (storefront.clock), read when a row is written: for what money and
    deadlines are reckoned from (a payment's creation, say)."""
    return clock.now()


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, PostgreSQL gets the same values."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        return None if value is None else value.replace(tzinfo=timezone.utc)


Money = sa.Numeric(12, 2, asdecimal=True)


def sql_values(members: Any) -> str:
    """The members as SQL string literals, for a CHECK constraint's `IN (...)`."""
    return ", ".join(f"'{member}'" for member in members)


def enum_column(enum_cls: type[enum.StrEnum], length: int) -> sa.Enum:
    """A column of one of these StrEnums, stored as its value in a VARCHAR of `length` (the
    CHECK constraint of each table keeps the values) and read back as the enum's member."""
    return sa.Enum(enum_cls, native_enum=False, create_constraint=False, length=length,
                   values_callable=lambda members: [str(member) for member in members])
