"""What the self-service views share: the form again with its problem, a link that no longer works."""

from __future__ import annotations

from typing import Optional

from flask import render_template
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from storefront.errors import error_response, wants_json


def refused(template: str, form: FlaskForm, status: int, error: Optional[str] = None, **context):
    """The form again with what is wrong (or the first problem as JSON for a client that asked)."""
    if wants_json():
        problems = [problem for errors in form.errors.values() for problem in errors]
        return error_response(status, error or next(iter(problems), None))
    return render_template(template, form=form, error=error, **context), status


def link_unusable(message: Optional[str] = None):
    """A mailed link that is expired, used, or not ours: 400 with the way to a new one."""
    message = message or _("This link has expired or has already been used.")
    if wants_json():
        return error_response(400, message)
    return render_template("self_service/link_unusable.html",
                           message=message), 400


def wrong_password() -> str:
    return _("The current password is wrong.")
