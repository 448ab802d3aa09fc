"""The mailbox's pages and JSON: GET /_sandbox/mail (?to=ADDRESS), newest first."""
from __future__ import annotations

import sqlite3

from flask import Blueprint, Response, jsonify, request

from .state import current

bp = Blueprint("sandbox_mail", __name__, url_prefix="/_sandbox/mail")


def mail_object(row: sqlite3.Row) -> dict:
    """One received message as the JSON answer shows it (to is the envelope recipient)."""
    return {
        "id": row["id"],
        "to": row["recipient"],
        "from": row["sender"],
        "subject": row["subject"],
        "text": row["text"],
        "html": row["html"],
        "message_id": row["message_id"],
        "received_at": row["received_at"],
    }


@bp.get("")
def mail_list() -> Response:
    """Every message received, or those of one recipient (?to=, any letter case), newest first."""
    recipient = (request.args.get("to") or "").strip() or None
    return jsonify([mail_object(row) for row in current().store.mail_list(recipient)])
