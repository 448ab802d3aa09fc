"""The mailbox over HTTP: GET /_sandbox/mail (?to=ADDRESS) as JSON, newest first, and one message's page."""
from __future__ import annotations

import re
import sqlite3

from flask import Blueprint, Response, abort, jsonify, make_response, render_template, request

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


# The message's HTML is shown in a frame sandboxed without scripts (and so without the page's
# origin); its links open in a new tab, outside the sandbox, so that they work as in a mail client.
FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
# The message page's own policy, which the srcdoc frame inherits: no script at all, the mail's
# inline styles and images allowed, never framed itself.
MESSAGE_PAGE_CSP = ("default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
                    "img-src 'self' data: http: https:; frame-ancestors 'none'; form-action 'none'")
_HEAD = re.compile(r"<head[^>]*>", re.I)


def framed_html(body: str) -> str:
    """The message's HTML with a <base> that opens its links in a new tab."""
    base = '<base target="_blank">'
    found = _HEAD.search(body)
    if found:
        return body[:found.end()] + base + body[found.end():]
    return base + body


@bp.get("/<int:mail_id>")
def message(mail_id: int) -> Response:
    """One message: who it was for, its subject, its HTML (framed, scripts never run) and its text."""
    sb = current()
    row = sb.store.mail_get(mail_id)
    if row is None:
        abort(404, description="No such message: it was never received, or the sandbox was reset since.")
    page = render_template("mail_message.html", mail=mail_object(row), sandbox_at=row["sandbox_at"],
                           srcdoc=framed_html(row["html"]) if row["html"] else "", frame_sandbox=FRAME_SANDBOX)
    response = make_response(page)
    response.headers["Content-Security-Policy"] = MESSAGE_PAGE_CSP
    return response
