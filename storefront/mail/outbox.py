"""The outbox: queue a message with the change that causes it; send what is due, once per row."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Optional

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context
from flask_mailman import EmailMultiAlternatives
from sqlalchemy.exc import SQLAlchemyError

from storefront import clock
from storefront.extensions import db
from storefront.mail.rendering import render
from storefront.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

# How long a sender holds the rows it claimed: long enough for one SMTP conversation per row.
CLAIM_FOR = timedelta(minutes=5)
# Waits after the 1st, 2nd, 3rd … failed attempt (then the last one, again and again).
BACKOFF = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
           timedelta(hours=6)]
# A message still unsent after this many attempts is a failure the periodic job reports.
FAILING_AFTER_ATTEMPTS = 3
BATCH = 50


def message_id(kind: str, cause: str) -> str:
    """The Message-ID, and unique key, of the message `kind` for `cause` (e.g. "payment-12")."""
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "localhost"
    return f"<{kind}.{cause}@{domain}>"


def queue_mail(kind: str, cause: str, *, to: str, language: str, user_id: Optional[int] = None,
               expires_at: Optional[datetime] = None, **context: Any) -> Optional[OutboxMessage]:
    """Add the message `kind` for `cause` to the session, rendered now in `language`; the
    caller's commit writes it with the change that caused it. A cause already queued (in the
    database or in this session) adds nothing and returns None. `expires_at` (the shop's
    clock): not sent after then.

    After a request it is sent once the answer is out; what is left, the periodic job sends."""
    key = message_id(kind, cause)
    with db.session.no_autoflush:
        pending = any(isinstance(row, OutboxMessage) and row.message_id == key for row in db.session.new)
    if pending or db.session.execute(
            db.select(OutboxMessage.id).where(OutboxMessage.message_id == key)).first():
        return None
    # Rendering reads the records it names; what the caller changed is flushed with its commit.
    with db.session.no_autoflush:
        rendered = render(kind, language, **context)
    row = OutboxMessage(message_id=key, kind=kind, user_id=user_id, to_address=to, language=language,
                        subject=rendered.subject[:255], text_body=rendered.text,
                        html_body=rendered.html, expires_at=expires_at)
    db.session.add(row)
    if has_request_context():
        g.setdefault("mail_queued", []).append(key)
    return row


def queued_in_this_request() -> list[str]:
    """Message-IDs this request queued (the app sends them after its answer)."""
    return list(g.get("mail_queued", [])) if has_request_context() else []


@dataclass
class SendReport:
    """What one run of the sender did."""

    sent: int = 0
    failed: int = 0
    # Message-IDs of messages past their expiry, dropped unsent.
    expired: list[str] = field(default_factory=list)


def send_due(only: Optional[list[str]] = None, limit: int = BATCH) -> SendReport:
    """Claim the messages due now (or just `only` these Message-IDs), send each, record it.

    Claiming is its own transaction: rows are locked with SKIP LOCKED (PostgreSQL; SQLite has
    one writer anyway) and their next_attempt_at moved past the claim, so another host neither
    waits for them nor sends them. A host that dies mid-send leaves its rows to be tried again
    when the claim runs out: a message may then arrive twice, with one Message-ID, which mail
    programs show once. Nothing is ever sent twice by hosts running together."""
    report = SendReport()
    report.expired = drop_expired()
    for row in _claim(only, limit):
        error = _send_one(row)
        if error is None:
            row.sent_at = utcnow()
            row.last_error = None
            report.sent += 1
        else:
            row.last_error = error[:500]
            row.next_attempt_at = utcnow() + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
            report.failed += 1
            log.warning("mail %s to user %s not sent (attempt %d): %s", row.message_id,
                        row.user_id, row.attempts, error)
        db.session.commit()
    return report


def drop_expired() -> list[str]:
    """Drop the unsent messages past their expiry (the shop's clock); their Message-IDs."""
    rows = list(db.session.execute(
        db.select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.dropped_at.is_(None),
               OutboxMessage.expires_at <= clock.now())
        .with_for_update(skip_locked=True)).scalars())
    for row in rows:
        row.dropped_at = utcnow()
        log.warning("mail %s expired unsent (%d attempts, last error: %s)", row.message_id,
                    row.attempts, row.last_error)
    db.session.commit()
    return [row.message_id for row in rows]


def _claim(only: Optional[list[str]], limit: int) -> list[OutboxMessage]:
    now = utcnow()
    query = (db.select(OutboxMessage)
             .where(OutboxMessage.sent_at.is_(None), OutboxMessage.dropped_at.is_(None),
                    OutboxMessage.next_attempt_at <= now,
                    sa.or_(OutboxMessage.expires_at.is_(None), OutboxMessage.expires_at > clock.now()))
             .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
             .limit(limit)
             .with_for_update(skip_locked=True))
    if only is not None:
        query = query.where(OutboxMessage.message_id.in_(only))
    rows = list(db.session.execute(query).scalars())
    for row in rows:
        row.next_attempt_at = now + CLAIM_FOR
        row.attempts += 1
    db.session.commit()
    return rows


def _send_one(row: OutboxMessage) -> Optional[str]:
    """Send one message over its own SMTP connection; None when the server took it, else what
    went wrong."""
    message = EmailMultiAlternatives(
        subject=row.subject, body=row.text_body, from_email=current_app.config["MAIL_FROM"],
        to=[row.to_address], headers={"Message-ID": row.message_id})
    message.attach_alternative(row.html_body, "text/html")
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def send_after_answer(app: Flask, message_ids: list[str]) -> None:
    """Send what a request queued, once its answer is out (the periodic job sends the rest)."""
    with app.app_context():
        try:
            send_due(only=message_ids)
        except SQLAlchemyError:
            # The rows stay in the outbox for the periodic job.
            log.exception("mail queued by a request could not be sent after the answer")
            db.session.rollback()


def failing_messages() -> list[OutboxMessage]:
    """Unsent messages that have failed FAILING_AFTER_ATTEMPTS times or more (the periodic
    job's exit code counts them)."""
    return list(db.session.execute(
        db.select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.dropped_at.is_(None),
               OutboxMessage.attempts >= FAILING_AFTER_ATTEMPTS)
        .order_by(OutboxMessage.id)).scalars())
