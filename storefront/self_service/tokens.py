"""Signed links of account mail: password reset, sign-up confirmation, e-mail change."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any, Optional

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from storefront.extensions import db
from storefront.models import User

# Token lifetimes are measured on the system clock (itsdangerous's), never the demo's.
RESET_VALID = timedelta(hours=1)
CONFIRM_VALID = timedelta(days=7)
EMAIL_CHANGE_VALID = timedelta(days=1)


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=f"account-{purpose}")


def fingerprint(*values: str) -> str:
    """A short keyed digest binding a token to the account's state (its password hash, its
    address): once that changes, the token no longer matches."""
    digest = hmac.new(current_app.secret_key.encode(), "\x1f".join(values).encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def reset_token(user: Optional[User], dummy: str) -> str:
    """A password-reset link's token, signed over the account's password hash and address, so
    that it works once (setting the password changes the hash) and dies with an e-mail change.

    Made for an unknown address too (from `dummy`), so both answers cost the same work."""
    if user is None:
        return _serializer("reset").dumps([0, fingerprint(dummy, dummy)])
    return _serializer("reset").dumps([user.id, fingerprint(user.password_hash, user.email)])


def confirm_token(user: User) -> str:
    """The sign-up mail's token: confirms this account's current address."""
    return _serializer("confirm").dumps([user.id, fingerprint(user.email)])


def email_change_token(user: User, new_email: str) -> str:
    """The token mailed to the new address: moves the account from its current address to it.
    Signed over the password hash too: a shopper who changes the password (say, after someone
    else used it to ask for a change) kills every change link still unused."""
    return _serializer("email").dumps([user.id, new_email, fingerprint(user.email, user.password_hash)])


def _load(purpose: str, token: str, valid: timedelta) -> Optional[list[Any]]:
    if not isinstance(token, str) or len(token) > 500:
        return None
    try:
        payload = _serializer(purpose).loads(token, max_age=int(valid.total_seconds()))
    except BadData:
        return None
    return payload if isinstance(payload, list) and payload and isinstance(payload[0], int) else None


def _live_user(user_id: int) -> Optional[User]:
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    return None if user is None or user.erased_at is not None else user


def user_of_reset(token: str) -> Optional[User]:
    """The account a reset token is for while it is valid and unused, else None."""
    payload = _load("reset", token, RESET_VALID)
    if payload is None or len(payload) != 2:
        return None
    user = _live_user(payload[0])
    if user is None or not hmac.compare_digest(str(payload[1]),
                                               fingerprint(user.password_hash, user.email)):
        return None
    return user


def user_of_confirmation(token: str) -> Optional[User]:
    """The account whose current address a sign-up token confirms, else None."""
    payload = _load("confirm", token, CONFIRM_VALID)
    if payload is None or len(payload) != 2:
        return None
    user = _live_user(payload[0])
    if user is None or not hmac.compare_digest(str(payload[1]), fingerprint(user.email)):
        return None
    return user


def email_change_of(token: str) -> Optional[tuple[User, str]]:
    """The account and new address of a valid e-mail change token (one not used yet: using it
    changes the address it is bound to), else None."""
    payload = _load("email", token, EMAIL_CHANGE_VALID)
    if payload is None or len(payload) != 3 or not isinstance(payload[1], str):
        return None
    user = _live_user(payload[0])
    if user is None or not hmac.compare_digest(str(payload[2]),
                                               fingerprint(user.email, user.password_hash)):
        return None
    return user, payload[1]
