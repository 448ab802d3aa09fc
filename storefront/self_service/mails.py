"""The account mails, queued in the outbox with the change that causes them, at most one per
recipient and kind in each window (so that nobody can flood a mailbox through our forms)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Optional

from flask import current_app
from flask_babel import force_locale

from storefront.mail import language_of, queue_mail, render
from storefront.models import User
from storefront.self_service.tokens import confirm_token, email_change_token, fingerprint, reset_token

# One mail of a kind to one address per window; a second ask within it sends nothing more (the
# first mail's link still works).
PER_ADDRESS_WINDOW = timedelta(minutes=10)


def _window_cause(user: User, address: str) -> str:
    """The outbox cause of a mail of this account to `address` in this window: the outbox keeps
    one per cause. The address is named by a keyed digest, so that an erased account's mail
    rows cannot be matched against a list of addresses."""
    window = int(time.time() // current_app.config.get(
        "ACCOUNT_MAIL_WINDOW", PER_ADDRESS_WINDOW).total_seconds())
    return f"user-{user.id}-{fingerprint(address)[:16]}-{window}"


def _name(user: User) -> str:
    """The user's name in the order their mail's language writes it."""
    with force_locale(language_of(user)):
        return user.full_name


def send_reset(user: Optional[User], email: str, language: str) -> None:
    """Queue the password-reset mail for the account of `email`; for an address without one,
    do the same work (a token, a rendering) and queue nothing. Sent after the answer either way."""
    token = reset_token(user, dummy=email)
    if user is None:
        render("password_reset", language, token=token, name="", email=email)
        return
    queue_mail("password_reset", _window_cause(user, user.email), to=user.email,
               language=language_of(user), user_id=user.id, token=token,
               name=_name(user), email=user.email)


def send_confirmation(user: User) -> None:
    """Queue the mail whose link confirms the account's address (at sign-up, and on "resend")."""
    queue_mail("email_confirm", _window_cause(user, user.email), to=user.email,
               language=language_of(user), user_id=user.id, token=confirm_token(user),
               name=_name(user), email=user.email)


def send_email_change(user: User, new_email: str) -> None:
    """Queue the mail to the new address whose link moves the account there."""
    queue_mail("email_change_confirm", _window_cause(user, new_email), to=new_email,
               language=language_of(user), user_id=user.id,
               token=email_change_token(user, new_email), name=_name(user),
               old_email=user.email, new_email=new_email)


def tell_old_address(user: User, old_email: str) -> None:
    """Queue the notice to the address the account just left (once per change)."""
    cause = f"user-{user.id}-{fingerprint(old_email, user.email)[:16]}-{int(time.time())}"
    queue_mail("email_changed", cause, to=old_email, language=language_of(user), user_id=user.id,
               name=_name(user), old_email=old_email, new_email=user.email)


def tell_password_changed(user: User) -> None:
    """Tell the account's address that its password was changed (once per change), with the
    way back for an owner who did not change it."""
    queue_mail("password_changed", f"user-{user.id}-password-{time.time_ns()}", to=user.email,
               language=language_of(user), user_id=user.id, name=_name(user), email=user.email)
