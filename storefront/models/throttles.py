"""Failed log-ins counted per e-mail and client address, read by storefront/throttle.py."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storefront.extensions import db
from storefront.models.columns import UTCDateTime, utcnow


class LoginThrottle(db.Model):
    """Failed log-ins of one e-mail from one client address (a "pair"), or the accounts that
    failed from one client address within a window (see storefront/throttle.py)."""

    __tablename__ = "login_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A pair's last failed (or last admitted) attempt; its next one waits a delay from here.
    last_failure: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
