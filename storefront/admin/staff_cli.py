"""`flask staff grant|revoke EMAIL`: who may use the back office."""

from __future__ import annotations

import logging

import click
from flask.cli import AppGroup

from storefront.extensions import db
from storefront.models import User

log = logging.getLogger(__name__)

staff_group = AppGroup("staff", help="Give or take back access to the back office (/admin).")


def _set_staff(email: str, is_staff: bool) -> None:
    user = db.session.execute(
        db.select(User).where(User.email == User.normalize_email(email), User.erased_at.is_(None))
    ).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"No account has the e-mail address {email!r}; sign up first.")
    user.is_staff = is_staff
    # Either way the account's sessions end now: one opened as staff would last until its idle
    # timeout, and one opened as a shopper (perhaps with a remember cookie) is not held to staff
    # rules; the next log-in is.
    user.end_all_sessions()
    db.session.commit()
    log.info("staff access %s for user %s", "granted" if is_staff else "revoked", user.id)
    click.echo(f"{user.email} {'is now staff' if is_staff else 'is no longer staff'}.")


@staff_group.command("grant")
@click.argument("email")
def grant(email: str) -> None:
    """Make an existing account staff."""
    _set_staff(email, True)


@staff_group.command("revoke")
@click.argument("email")
def revoke(email: str) -> None:
    """Take back an account's staff access (its sessions end)."""
    _set_staff(email, False)
