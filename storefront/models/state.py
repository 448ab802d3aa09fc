"""Small values the shop keeps about the world outside (the sandbox generation it last saw), by key."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storefront.extensions import db


class ShopState(db.Model):
    """One named value, such as `sandbox_generation` (storefront/billing/sandbox_reset.py)."""

    __tablename__ = "shop_state"

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(255))
