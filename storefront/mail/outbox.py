"""The outbox: queue a message with the change that causes it; send what is due, once per row."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Optional

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context
from flask_mailman import EmailMultiAlternatives
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from storefront import clock
from storefront.extensions import db, mail
from storefront.mail.rendering import render
from storefront.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

# How long a sender holds the row it claimed: far longer than one SMTP conversation can take
# (MAIL_TIMEOUT bounds each of its steps).
CLAIM_FOR = timedelta(minutes=5)
# Waits after the 1st, 2nd, 3rd … failed attempt (then the last one, again and again).
BACKOFF = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
           timedelta(hours=6)]
# A message still unsent after this many attempts is a failure the periodic job reports; after
# GIVE_UP_AFTER it is dropped (and reported once): a notice days late is no notice.
FAILING_AFTER_ATTEMPTS = 3
GIVE_UP_AFTER = timedelta(days=3)
# Messages one run sends at most, and rows read to find one not claimed by another sender.
BATCH = 50
CANDIDATES = 10


def message_id(kind: str, cause: str) -> str:
    """The Message-ID, and unique key, of the message `kind` for `cause` (e.g. "payment-12")."""
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "localhost"
    return f"<{kind}.{cause}@{domain}>"


def queue_mail(kind: str, cause: str, *, to: str, language: str, user_id: Optional[int] = None,
               expires_at: Optional[datetime] = None, subscription_id: Optional[int] = None,
               **context: Any) -> Optional[str]:
    """Write the message `kind` for `cause`, rendered now in `language`, in the caller's
    transaction: their commit writes it with the change that caused it. Returns its Message-ID,
    or None when the cause was queued already (in the database, or by a transaction running at
    the same moment: no error of the change, which must never fail over its mail). `expires_at`
    (the shop's clock): not sent after then; `subscription_id`: the subscription it is about,
    whose timeline shows it.

    After a request it is sent once the answer is out; what is left, the periodic job sends."""
    key = message_id(kind, cause)
    if db.session.execute(db.select(OutboxMessage.id).where(OutboxMessage.message_id == key)).first():
        return None
    # Rendering reads the records it names; what the caller changed is flushed with the insert.
    try:
        with db.session.no_autoflush:
            rendered = render(kind, language, **context)
    except Exception:  # a template's or a catalog's mistake must never undo the change (a payment)
        log.exception("mail %s could not be rendered: the change goes on without it", key)
        return None
    inserted = db.session.execute(_insert_once().values(
        message_id=key, kind=kind, user_id=user_id, subscription_id=subscription_id,
        to_address=to, language=language,
        subject=rendered.subject[:255], text_body=rendered.text, html_body=rendered.html,
        expires_at=expires_at).returning(OutboxMessage.id)).scalar_one_or_none()
    if inserted is None:
        log.info("mail %s was queued by another transaction", key)
        return None
    g.setdefault("mail_queued", []).append(key)
    return key


def _insert_once() -> Any:
    """INSERT … ON CONFLICT (message_id) DO NOTHING, in the database's own dialect. (Not a
    savepoint: on SQLite a savepoint that opens a transaction commits when it is released.)"""
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["message_id"])
    return sqlite.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["message_id"])


def queued_here() -> list[str]:
    """Message-IDs queued in this request or app context (a request's are sent after its
    answer; work done after an answer sends its own with send_due(only=...))."""
    return list(g.get("mail_queued", [])) if has_app_context() else []


@dataclass
class SendReport:
    """What one run of the sender did."""

    sent: int = 0
    failed: int = 0
    # Messages dropped unsent, each with why (past its expiry, refused for good by the server,
    # or failing for GIVE_UP_AFTER): the periodic job names each once.
    dropped: list[str] = field(default_factory=list)


def send_due(only: Optional[list[str]] = None, limit: int = BATCH) -> SendReport:
    """Send up to `limit` messages due now (or just `only` these Message-IDs), one at a time:
    claim one, send it, record what happened.

    Each claim is its own transaction: a compare-and-set on the row's next_attempt_at (as
    refunds are on requested_at) moves it past the claim, so another sender neither sends it nor
    (with SKIP LOCKED on PostgreSQL) waits for it. One message is claimed at a time, so a slow
    mail server can never make a claim run out while its row still waits to be sent. A host
    that dies mid-send leaves its row to be sent again when the claim runs out: the message may
    then arrive twice, with one Message-ID, which mail programs show once."""
    report = SendReport()
    report.dropped = drop_stale()
    for _ in range(limit):
        row = _claim_one(only)
        if row is None:
            break
        error, permanent = _send_one(row)
        if error is None:
            row.sent_at = utcnow()
            row.last_error = None
            report.sent += 1
        elif permanent:
            row.last_error = error[:500]
            row.dropped_at = utcnow()
            report.dropped.append(f"mail {row.message_id}: refused for good ({error})")
            log.warning("mail %s to user %s refused for good: %s", row.message_id, row.user_id, error)
        else:
            row.last_error = error[:500]
            row.next_attempt_at = utcnow() + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
            report.failed += 1
            log.warning("mail %s to user %s not sent (attempt %d): %s", row.message_id,
                        row.user_id, row.attempts, error)
        db.session.commit()
    return report


def drop_stale() -> list[str]:
    """Drop the unsent messages past their expiry (the shop's clock) or failing for
    GIVE_UP_AFTER; says why of each."""
    expired = OutboxMessage.expires_at <= clock.now()
    rows = list(db.session.execute(
        db.select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.dropped_at.is_(None),
               sa.or_(expired, OutboxMessage.created_at <= utcnow() - GIVE_UP_AFTER))
        .with_for_update(skip_locked=True)).scalars())
    dropped = []
    for row in rows:
        row.dropped_at = utcnow()
        why = "not sent before it expired" if row.expires_at and row.expires_at <= clock.now() \
            else f"not sent in {GIVE_UP_AFTER.days} days"
        dropped.append(f"mail {row.message_id}: {why} (last error: {row.last_error})")
        log.warning("mail %s dropped: %s (%d attempts, last error: %s)", row.message_id, why,
                    row.attempts, row.last_error)
    db.session.commit()
    return dropped


def _claim_one(only: Optional[list[str]]) -> Optional[OutboxMessage]:
    """Claim the next due message for this sender (see send_due), or None."""
    now = utcnow()
    query = (db.select(OutboxMessage.id, OutboxMessage.next_attempt_at)
             .where(OutboxMessage.sent_at.is_(None), OutboxMessage.dropped_at.is_(None),
                    OutboxMessage.next_attempt_at <= now,
                    sa.or_(OutboxMessage.expires_at.is_(None), OutboxMessage.expires_at > clock.now()))
             .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
             .limit(CANDIDATES)
             .with_for_update(skip_locked=True))
    if only is not None:
        query = query.where(OutboxMessage.message_id.in_(only))
    for row_id, seen in db.session.execute(query).all():
        taken = db.session.execute(
            db.update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.next_attempt_at == seen,
                   OutboxMessage.sent_at.is_(None))
            .values(next_attempt_at=now + CLAIM_FOR, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        if taken:
            db.session.commit()
            return db.session.get(OutboxMessage, row_id, populate_existing=True)
    db.session.commit()
    return None


def _send_one(row: OutboxMessage) -> tuple[Optional[str], bool]:
    """Send one message over its own SMTP connection: (None, False) when the server took it,
    else what went wrong and whether it is for good (the server refused the recipient or the
    message with a 5xx; never a refusal of our own log-in or sender, which is ours to fix)."""
    connection = mail.get_connection(fail_silently=False)
    message = EmailMultiAlternatives(
        subject=row.subject, body=row.text_body, from_email=current_app.config["MAIL_FROM"],
        to=[row.to_address], headers={"Message-ID": row.message_id}, connection=connection)
    message.attach_alternative(row.html_body, "text/html")
    try:
        connection.open()
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        return f"{type(exc).__name__}: {exc}", all(code >= 500 for code in codes)
    except smtplib.SMTPDataError as exc:
        return f"{type(exc).__name__}: {exc}", exc.smtp_code >= 500
    except (smtplib.SMTPException, OSError) as exc:
        return f"{type(exc).__name__}: {exc}", False
    finally:
        _close(connection)
    return None, False


def _close(connection: Any) -> None:
    """Close the connection whatever state the server left it in (the send's outcome stands)."""
    try:
        connection.close()
    except (smtplib.SMTPException, OSError):
        if connection.connection is not None:
            connection.connection.close()
        connection.connection = None


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
