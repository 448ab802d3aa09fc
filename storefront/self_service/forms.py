"""Forms of account self-service: forgotten and new passwords, a new address, deleting the account."""

from __future__ import annotations

from flask_babel import lazy_gettext
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from storefront.forms import AT_MOST, BrowserForm
from storefront.passwords import MAX_LENGTH, MIN_LENGTH, password_problem


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _email_field(label=lazy_gettext("E-mail")) -> EmailField:
    return EmailField(label, filters=[_strip], validators=[
        DataRequired(lazy_gettext("Please enter your e-mail address.")),
        Length(max=254, message=AT_MOST),
        Email(lazy_gettext("Please enter a valid e-mail address."), check_deliverability=False),
    ])


def _current_password() -> PasswordField:
    return PasswordField(lazy_gettext("Current password"), validators=[
        DataRequired(lazy_gettext("Please enter your password.")),
        Length(max=MAX_LENGTH, message=AT_MOST)])


class ForgotForm(BrowserForm):
    """The address a reset link is sent to."""

    email = _email_field()


class NewPasswordForm(BrowserForm):
    """A new password, twice; checked as at sign-up (storefront.passwords)."""

    password = PasswordField(lazy_gettext("New password"), validators=[
        DataRequired(lazy_gettext("Please choose a password.")),
        Length(min=MIN_LENGTH, max=MAX_LENGTH,
               message=lazy_gettext("The password must have %(min)d to %(max)d characters.")),
    ])
    confirm = PasswordField(lazy_gettext("Repeat password"), validators=[
        DataRequired(lazy_gettext("Please repeat the password.")),
        EqualTo("password", message=lazy_gettext("The two passwords differ.")),
    ])

    def __init__(self, *args, email: str = "", first_name: str = "", last_name: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._personal = (email, first_name, last_name)

    def validate_password(self, field: PasswordField) -> None:
        if field.errors:
            return
        problem = password_problem(field.data, *self._personal)
        if problem:
            raise ValidationError(problem)


class ChangePasswordForm(NewPasswordForm):
    """The current password, then a new one."""

    current = _current_password()


class ChangeEmailForm(BrowserForm):
    """The new address and the current password."""

    email = _email_field(lazy_gettext("New e-mail"))
    current = _current_password()


class DeleteAccountForm(BrowserForm):
    """The password, to delete the account."""

    current = _current_password()
