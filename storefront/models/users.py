"""Shoppers' accounts: User, with its password hash and the token its sessions are named by."""

from __future__ import annotations

import functools
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from storefront.extensions import db
from storefront.formatting import person_name
from storefront.models.columns import UTCDateTime, utcnow

if TYPE_CHECKING:
    from storefront.models.subscriptions import Subscription

# How passwords are hashed; the dummy hash of an unknown address's log-in is made the same way.
PASSWORD_METHOD = "scrypt"


def new_session_token() -> str:
    """A fresh random value for User.session_token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made once, with the method and parameters of real ones."""
    return generate_password_hash(secrets.token_urlsafe(16), method=PASSWORD_METHOD)


class User(UserMixin, db.Model):
    """A shopper's account; the e-mail is kept lower-case so uniqueness ignores letter case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(60))
    last_name: Mapped[str] = mapped_column(sa.String(60))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    # What the session and the remember cookie name the user by (Flask-Login's alternative id),
    # not the id: a new value ends every session and remember cookie that carries the old one.
    session_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The one consent to the terms and the privacy policy together that sign-up asked until
    # 2026-12; kept as its record. The separate consents below replaced it (storefront/consents.py).
    terms_agreed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Each consent sign-up asks (개인정보 보호법 §15, §22, §22-2), when and to which version of
    # its text (storefront/legal.py); None: not given, asked at the next log-in.
    terms_consent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    terms_version: Mapped[Optional[str]] = mapped_column(sa.String(20))
    privacy_consent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    privacy_version: Mapped[Optional[str]] = mapped_column(sa.String(20))
    # "I am 14 or older": under 14 needs a guardian's consent, which this shop does not take.
    age_confirmed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # The language picked on the switch ('ko', 'en'); None: the browser's or the shop's default.
    locale: Mapped[Optional[str]] = mapped_column(sa.String(8))
    # When the owner of the address proved it (the sign-up mail's link, a password reset, or the
    # link of an e-mail change); None: not yet. The account works meanwhile.
    email_confirmed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # When the account was deleted: its personal data erased, the row kept as the pseudonymous
    # reference of the payment and contract records the law keeps (전자상거래법 §6).
    erased_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Staff reach the back office (/admin); set and cleared by `flask staff grant|revoke`.
    is_staff: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    subscriptions: Mapped[list["Subscription"]] = relationship(back_populates="user")

    @staticmethod
    def normalize_email(email: str) -> str:
        """The form of an e-mail address we store and look up."""
        return email.strip().lower()

    @property
    def full_name(self) -> str:
        """The name as pages show it, in the order of the page's language (홍길동, Gildong Hong)."""
        return person_name(self.first_name, self.last_name)

    @property
    def buyer_name(self) -> str:
        """The name for PAYMENTWALL: "First Last" with exactly one space, so the spaces inside
        a first or last name ("Mary Ann", "van Dyke") become hyphens."""
        return f"{'-'.join(self.first_name.split())} {'-'.join(self.last_name.split())}"

    def set_password(self, password: str) -> None:
        """Hash and keep the password."""
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @staticmethod
    def log_in_check(user: Optional["User"], password: str) -> bool:
        """True when there is a user and the password is theirs. An unknown address costs a
        hash check too, so the time of a log-in tells no one whether the address has an account."""
        if user is None:
            check_password_hash(_dummy_hash(), password)
            return False
        return user.check_password(password)

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session and the remember cookie: the session token."""
        return self.session_token

    def end_all_sessions(self) -> None:
        """Make every session and remember cookie of this user stop working (log-in, log-out,
        and what a password change must call); the caller commits."""
        self.session_token = new_session_token()

