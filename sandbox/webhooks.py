"""Webhooks queued: each payment event logged for its destinations, with the faults tests ask for."""
from __future__ import annotations

import logging
from typing import Any

from .money import dumps, loads
from .state import State

log = logging.getLogger(__name__)


def destinations(sb: State, meta: dict) -> list[str]:
    """The payment's notice_url(s), else the configured default URL, else nowhere."""
    urls = [u for u in meta.get("notice_urls") or [] if u]
    if urls:
        return urls
    return [sb.knobs.webhook_url] if sb.knobs.webhook_url else []


def public_row(row: dict) -> dict:
    """A delivery log row as the control endpoint shows it."""
    out = dict(row)
    out["body"] = loads(row["body"])
    out.pop("order_key", None)
    out["reorder"] = bool(row["reorder"])
    return out


def enqueue(sb: State, payment: dict, meta: dict, *, event: str, status: str | None = None,
            extra: dict | None = None) -> list[int]:
    """Queue the webhook of a payment event to each destination; returns the log ids."""
    knobs = sb.knobs
    body: dict[str, Any] = {
        "imp_uid": payment["imp_uid"],
        "merchant_uid": payment["merchant_uid"],
        "status": status or payment["status"],
    }
    body.update(extra or {})
    now = sb.clock.now()
    urls = destinations(sb, meta)
    ids: list[int] = []
    if not urls:
        ids.append(_log(sb, body, None, event, "skipped", "original", now, now, False,
                        error="no notice_url and no default webhook URL"))
        return ids
    for url in urls:
        if sb.rng.random() < knobs.webhook_drop_rate:
            ids.append(_log(sb, body, url, event, "dropped", "original", now, now, False,
                            error="dropped by the webhook fault setting"))
            continue
        due = now + knobs.webhook_delay
        reorder = bool(knobs.webhook_reorder)
        if reorder:
            # Every webhook queued while a batch is open joins it; a batch goes out
            # newest first, so events arrive in the reverse order of their creation.
            batch = sb.store.webhook_reorder_batch(now)
            due = batch if batch is not None else due + knobs.webhook_reorder_window
        ids.append(_log(sb, body, url, event, "pending", "original", now, due, reorder))
        if sb.rng.random() < knobs.webhook_duplicate_rate:
            ids.append(_log(sb, body, url, event, "pending", "duplicate", now, due, reorder))
    sb.webhooks_due.set()
    return ids


def resend(sb: State, webhook_id: int) -> int | None:
    """Send a logged webhook again now, to the same place, with the same body."""
    row = sb.store.webhook_get(webhook_id)
    if row is None:
        return None
    now = sb.clock.now()
    url = row["url"]
    if not url:
        # A skipped webhook had nowhere to go; try the default URL now set, if any.
        url = sb.knobs.webhook_url or None
    if not url:
        return None
    new_id = _log(sb, loads(row["body"]), url, row["event"], "pending", "resend", now, now,
                  False, fmt=row["format"])
    sb.webhooks_due.set()
    return new_id


def _log(sb: State, body: dict, url: str | None, event: str, state: str, kind: str, now: float,
         due: float, reorder: bool, error: str | None = None, fmt: str | None = None) -> int:
    store = sb.store
    with store.tx():
        webhook_id = store.webhook_add({
            "created_at": now,
            "due_at": due,
            "reorder": int(reorder),
            "state": state,
            "kind": kind,
            "event": event,
            "imp_uid": body.get("imp_uid"),
            "merchant_uid": body.get("merchant_uid"),
            "status": body.get("status"),
            "url": url,
            "format": fmt or sb.knobs.webhook_format,
            "body": dumps(body),
            "error": error,
        })
        store.webhook_update(webhook_id, order_key=-webhook_id if reorder else webhook_id)
    if state == "pending":
        log.info("webhook %s queued: %s %s -> %s", webhook_id, event, body.get("status"), url)
    return webhook_id
