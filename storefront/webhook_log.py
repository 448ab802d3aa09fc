"""The webhook log: one row per webhook received, written in its own transaction whatever the webhook led to, and purged after WEBHOOK_LOG_DAYS."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, request
from sqlalchemy.exc import SQLAlchemyError

from storefront import clock
from storefront.extensions import db
from storefront.models import WebhookOutcome, WebhookReceipt

log = logging.getLogger(__name__)

# The most of a body the log keeps, in bytes of the stored JSON: iamport's fields take a few
# hundred.
BODY_LIMIT = 4096
# What is kept of a webhook that named no payment of iamport's (refused, malformed, unknown):
# anyone can send those, so only iamport's own fields, each cut short.
KNOWN_FIELDS = ("imp_uid", "merchant_uid", "status")
FIELD_LIMIT = 64
FULL_BODY = {WebhookOutcome.RECORDED, WebhookOutcome.NOT_OURS, WebhookOutcome.ERROR}


def body_fields(body: Any, outcome: WebhookOutcome) -> Any:
    """The fields as received, for the log: the whole body (a form's as a dict, JSON as it
    came, at most BODY_LIMIT bytes stored) when it led to a payment of iamport's; else only
    iamport's own fields."""
    if hasattr(body, "to_dict"):
        body = body.to_dict(flat=True)
    elif body is None:
        body = request.get_data(as_text=True)[:BODY_LIMIT]
    if outcome not in FULL_BODY:
        fields = body if isinstance(body, dict) else {}
        return {key: str(fields[key])[:FIELD_LIMIT] for key in KNOWN_FIELDS if fields.get(key) is not None}
    text = json.dumps(body, ensure_ascii=False, default=str)
    if len(text.encode()) > BODY_LIMIT:
        # A sixth: a character escaped in the stored JSON takes at most six bytes.
        return {"truncated": text[:(BODY_LIMIT - 32) // 6]}
    return body


def log_webhook(body: Any, outcome: WebhookOutcome | str, imp_uid: Any = None, merchant_uid: Any = None,
                subscription_id: int | None = None, detail: str | None = None) -> None:
    """Write the receipt of the webhook being answered, in a transaction of its own (what the
    webhook did is committed or rolled back by then); a failure to write it never changes the
    answer iamport gets."""
    db.session.rollback()  # nothing of the webhook's own work is left open
    fields = body_fields(body, WebhookOutcome(outcome))
    receipt = WebhookReceipt(
        received_at=clock.now(), remote_addr=(request.remote_addr or "")[:45] or None,
        body=fields, imp_uid=str(imp_uid)[:64] if imp_uid else None,
        merchant_uid=str(merchant_uid)[:40] if merchant_uid else None,
        subscription_id=subscription_id, outcome=WebhookOutcome(outcome),
        detail=detail[:255] if detail else None)
    db.session.add(receipt)
    try:
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("webhook of %s (%s) not written to the log", imp_uid, outcome)


def purge_webhook_log(now: datetime) -> int:
    """Delete the receipts older than WEBHOOK_LOG_DAYS; returns how many."""
    cutoff = now - timedelta(days=current_app.config["WEBHOOK_LOG_DAYS"])
    deleted = db.session.execute(
        db.delete(WebhookReceipt).where(WebhookReceipt.received_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if deleted:
        log.info("webhook log: %s entries older than %s deleted", deleted, cutoff)
    return deleted
