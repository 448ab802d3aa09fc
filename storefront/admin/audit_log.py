"""The audit log: `record_action` writes an entry in the caller's transaction; /admin/audit reads them (and nothing changes them)."""

from __future__ import annotations

from flask import abort, has_request_context, render_template, request
from flask_babel import lazy_gettext, lazy_pgettext
from flask_login import current_user

from storefront.admin import bp
from storefront.extensions import db
from storefront.models import AuditEntry, User

PAGE_SIZE = 50

# What the page calls each action and outcome; a code without a label is shown as it is.
ACTIONS = {
    "staff_login": lazy_gettext("Staff log-in"),
    "staff_login_failed": lazy_gettext("Failed staff log-in"),
    "reauth_failed": lazy_gettext("Wrong password given again"),
    "verify": lazy_gettext("Verify again"),
    "resend_schedule": lazy_gettext("Send the schedule again"),
    "refund": lazy_gettext("Refund"),
    "cancel": lazy_gettext("Cancellation on the customer's behalf"),
    "plan_create": lazy_gettext("Plan created"),
    "plan_edit": lazy_gettext("Plan edited"),
    "plan_withdrawn": lazy_gettext("Plan withdrawn from sale"),
    "plan_on_sale": lazy_gettext("Plan put back on sale"),
    "plan_price_change": lazy_gettext("Plan's price changed"),
    "plan_price_withdrawn": lazy_gettext("Plan's price change withdrawn"),
}
# What each kind of record an entry is about is called.
TARGETS = {
    "payment": lazy_pgettext("record", "Payment"),
    "subscription": lazy_pgettext("record", "Subscription"),
    "user": lazy_pgettext("record", "Account"),
    "plan": lazy_pgettext("record", "Plan"),
    "webhook": lazy_pgettext("record", "Webhook"),
}
OUTCOMES = {
    "ok": lazy_gettext("Done"),
    "refused": lazy_gettext("Refused"),
    "started": lazy_gettext("Started, not finished"),
    "changed": lazy_gettext("Changed"),
    "unchanged": lazy_gettext("Nothing to change"),
    "not_found": lazy_gettext("Not found at iamport"),
    "failed": lazy_gettext("iamport did not answer"),
    "nothing_open": lazy_gettext("No open payment"),
    "scheduled": lazy_gettext("Scheduled"),
    "held": lazy_gettext("iamport held it already"),
    "not_scheduled": lazy_gettext("Not scheduled"),
}

# What the templates name actions, records and outcomes by.
LABELS = {"actions": ACTIONS, "targets": TARGETS, "outcomes": OUTCOMES}


def record_action(action: str, *, target_type: str | None = None, target_id: int | None = None,
                  reason: str | None = None, outcome: str, detail: str | None = None,
                  token: str | None = None, actor: User | None = None) -> AuditEntry:
    """Add an audit entry to the caller's transaction (the caller commits it with the change it
    records, so that both are written or neither). `actor` defaults to the logged-in user;
    `token` is the confirmation form's one-time token (see admin/confirm.py)."""
    if actor is None and current_user and current_user.is_authenticated:
        actor = current_user._get_current_object()
    entry = AuditEntry(
        action=action, target_type=target_type, target_id=target_id, reason=reason,
        outcome=outcome, detail=detail, token=token,
        actor_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else None,
        remote_addr=((request.remote_addr or "")[:64] or None) if has_request_context() else None,
    )
    db.session.add(entry)
    return entry


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1 or int(raw) > 100_000:
        abort(400)
    return int(raw)


@bp.route("/audit")
def audit_log():
    """The audit log, newest first, a page at a time, of one action when asked."""
    page = _page_number()
    action = request.args.get("action") or None
    query = db.select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action == action)
    # One row more than shown says whether a next page exists, without counting the table.
    rows = list(db.session.execute(
        query.order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
        .limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
    ).scalars())
    return render_template("admin/audit.html", entries=rows[:PAGE_SIZE], page=page, action=action,
                           has_next=len(rows) > PAGE_SIZE, **LABELS)


@bp.route("/audit/<int:entry_id>")
def audit_entry(entry_id: int):
    """One entry: what an action just did, or did before."""
    entry = db.get_or_404(AuditEntry, entry_id)
    return render_template("admin/audit_entry.html", entry=entry, **LABELS)
