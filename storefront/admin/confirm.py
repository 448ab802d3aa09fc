"""Confirmation of the back office's money actions: a reason, a one-time token, the password again after 15 minutes, and one action per form.

Every action that moves money or ends a subscription has its own confirmation page, with
`ConfirmForm` (or a subclass adding the action's fields): a required reason (≤ 500 characters),
a hidden one-time token made when the page is shown, the password when the last log-in is older
than 15 minutes, and CSRF as every form. `confirmed_action` answers the GET and every POST that
must not act; the token is then written as the unique `AuditEntry.token` with the action, so a
second submission of the same form (a double click, the back button) shows the first outcome
and never acts again.

An action done in our own transaction (a refund owed, a cancellation written)::

    form = ConfirmForm()
    check = confirmed_action(form, "refund", target_type="payment", target_id=payment.id,
                             page=lambda: confirmation_page(form, title=..., question=...,
                                                            submit=..., back=...))
    if check.answer is not None:          # the page, a refusal, or "this was already done"
        return check.answer
    ...write the change, without committing...
    check.record("ok", detail="5,000 KRW owed back")
    if (answer := check.commit()) is not None:    # the same form won a moment earlier
        return answer
    return redirect(...)

An action carried out at iamport after a commit (a lookup, a schedule) claims the token
first, then writes what came of it on the same entry (left "started" if the worker dies)::

    if (answer := check.claim()) is not None:
        return answer
    outcome, detail = do_it()
    entry = check.finish(outcome, detail)

A form with fields of its own (an amount) subclasses ConfirmForm: its validators run with the
reason's, and a refusal shows the page again (400). Its template extends "admin/confirm.html"
and fills the block `confirm_fields` (or `confirm_details` for what the page shows above the
form). `url_for("admin.audit_entry", entry_id=entry.id)` shows an entry's outcome.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import render_template, url_for
from flask_babel import gettext as _, lazy_gettext
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField, PasswordField, TextAreaField
from wtforms.validators import DataRequired, Length

from storefront.admin import sessions
from storefront.admin.audit_log import LABELS, record_action
from storefront.extensions import db
from storefront.forms import AT_MOST, BrowserForm
from storefront.models import AuditEntry
from storefront.passwords import MAX_LENGTH

log = logging.getLogger(__name__)

REASON_MAX = 500
# secrets.token_urlsafe(32): 43 characters of the URL-safe alphabet.
TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{43}")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class ConfirmForm(BrowserForm):
    """A money action's confirmation: the reason, the one-time token, the password if asked."""

    reason = TextAreaField(
        lazy_gettext("Reason"), filters=[_strip],
        validators=[DataRequired(lazy_gettext("Please give a reason.")),
                    Length(max=REASON_MAX, message=AT_MOST)],
    )
    token = HiddenField()
    password = PasswordField(lazy_gettext("Your password"),
                             validators=[Length(max=MAX_LENGTH, message=AT_MOST)])
    # What is wrong with the submission as a whole (shown above the form).
    problem: str | None = None


@dataclass
class ActionCheck:
    """What `confirmed_action` decided: `answer` is the response to give when the action must
    not run now; else `reason` and `token` go with the action (see the module's docstring)."""

    action: str
    target_type: str | None
    target_id: int | None
    answer: Any = None
    reason: str | None = None
    token: str | None = None
    entry_id: int | None = field(default=None)

    def record(self, outcome: str, detail: str | None = None) -> AuditEntry:
        """Add the action's audit entry, with the form's token, to the caller's transaction."""
        entry = record_action(self.action, target_type=self.target_type, target_id=self.target_id,
                              reason=self.reason, outcome=outcome, detail=detail, token=self.token)
        return entry

    def commit(self) -> Any:
        """Commit the action with its entry; None when done, else (the token was used a moment
        ago by the same form, and the whole transaction is undone) the "already done" page."""
        try:
            db.session.flush()
            entry_id = db.session.execute(
                db.select(AuditEntry.id).where(AuditEntry.token == self.token)).scalar_one()
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            log.info("%s of %s %s: form submitted twice; done once", self.action, self.target_type,
                     self.target_id)
            return already_done(self, earlier_entry(self.token))
        self.entry_id = entry_id
        return None

    def claim(self) -> Any:
        """Write the entry as "started" and commit it before acting (for an action carried out
        at iamport); None when this submission is the one that acts."""
        self.record("started")
        return self.commit()

    def finish(self, outcome: str, detail: str | None = None) -> AuditEntry:
        """Write what came of a claimed action on its entry, and commit."""
        entry = db.session.get(AuditEntry, self.entry_id, populate_existing=True)
        entry.outcome = outcome
        entry.detail = detail
        db.session.commit()
        return entry


def new_token() -> str:
    """A fresh one-time token for a confirmation page."""
    return secrets.token_urlsafe(32)


def earlier_entry(token: str | None) -> AuditEntry | None:
    """The audit entry a token was used for, if any."""
    if not token:
        return None
    return db.session.execute(db.select(AuditEntry).where(AuditEntry.token == token)).scalar_one_or_none()


def already_done(check: ActionCheck, entry: AuditEntry | None):
    """The calm page of a form submitted again: what its first submission did."""
    if entry is None or (entry.action, entry.target_type, entry.target_id) != \
            (check.action, check.target_type, check.target_id):
        # A token of another form: nothing of this one was done; it must be opened again.
        return render_template("admin/form_expired.html"), 400
    return render_template("admin/already_done.html", entry=entry, **LABELS)


def confirmation_page(form: ConfirmForm, template: str = "admin/confirm.html", **context: Any) -> str:
    """Render a confirmation page (admin/confirm.html, or a template extending it, with its
    `title`, `question`, `submit` label and `back` link) with the password field when the
    log-in is too old."""
    context.setdefault("back", url_for("admin.dashboard"))
    return render_template(template, form=form, needs_password=sessions.needs_password(), **context)


def confirmed_action(form: ConfirmForm, action: str, *, target_type: str | None = None,
                     target_id: int | None = None, page: Callable[[], Any]) -> ActionCheck:
    """Decide whether this request may carry out `action`; `page` renders the confirmation
    page with `form` (its errors included).

    A GET gets the page with a new token. A POST with a token already used gets "already done";
    without a valid token, a reason, or (after 15 minutes) the right password, the page again
    with what is wrong (400, or 401 for the password; a wrong one is audited). Otherwise the
    check's `answer` is None and the action may run."""
    check = ActionCheck(action, target_type, target_id)
    if not form.is_submitted():
        form.token.data = new_token()
        check.answer = page()
        return check
    token = form.token.data or ""
    if not TOKEN_FORMAT.fullmatch(token):
        form.token.data = new_token()
        form.problem = _("This form has expired. Please open it again.")
        check.answer = page(), 400
        return check
    earlier = earlier_entry(token)
    if earlier is not None:
        check.answer = already_done(check, earlier)
        return check
    if not form.validate():
        check.answer = page(), 400
        return check
    if sessions.needs_password():
        if not form.password.data:
            form.password.errors.append(_("Please enter your password again: your last log-in was "
                                          "more than 15 minutes ago."))
            check.answer = page(), 401
            return check
        if not current_user.check_password(form.password.data):
            record_action("reauth_failed", target_type=target_type, target_id=target_id,
                          reason=form.reason.data, outcome="refused",
                          detail=f"wrong password given for {action}")
            db.session.commit()
            if sessions.wrong_password():
                # Every session of the account ends, not only this cookie: a copy of it kept
                # aside must not buy five more guesses.
                current_user.end_all_sessions()
                db.session.commit()
                check.answer = sessions.log_out(_("The password was wrong too many times. Please "
                                                  "log in again."))
                return check
            form.password.errors.append(_("Wrong password."))
            check.answer = page(), 401
            return check
        sessions.password_given()
    check.reason, check.token = form.reason.data, token
    return check
