"""Forms of the account area, validated by WTForms with CSRF from Flask-WTF."""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from storefront.passwords import MAX_LENGTH, MIN_LENGTH, password_problem

# WTForms fills in %(max)d (and %(min)d) when it raises these.
AT_MOST = lazy_gettext("Field cannot be longer than %(max)d characters.")


def _collapse_spaces(value: str | None) -> str | None:
    # PAYMENTWALL wants "First Last" with single spaces, so names are stored that way.
    return " ".join(value.split()) if isinstance(value, str) else value


def _no_control_chars(form: FlaskForm, field: StringField) -> None:
    if field.data and any(ord(ch) < 32 for ch in field.data):
        raise ValidationError(lazy_gettext("Please use printable characters only."))


class BrowserForm(FlaskForm):
    """A form posted by a browser: read from its form fields, never from a JSON body."""

    class Meta:
        def wrap_formdata(self, form: FlaskForm, formdata):
            # Flask-WTF would take a JSON body as the fields, so a number, a list or an object
            # would reach the validators; a JSON body submits nothing here.
            if request.is_json:
                return None
            return super().wrap_formdata(form, formdata)


# The three consents sign-up asks, each required on its own (개인정보 보호법 §15, §22, §22-2);
# their labels, which link the texts, are templates/auth/_consents.html's. Made by functions so
# that each form gets fields of its own, placed (and so validated and reported) where it says.
def _terms_box() -> BooleanField:
    return BooleanField(validators=[DataRequired(lazy_gettext("Please agree to the terms of use."))])


def _privacy_box() -> BooleanField:
    return BooleanField(validators=[DataRequired(lazy_gettext(
        "Please agree to the collection and use of your personal information."))])


def _age_box() -> BooleanField:
    return BooleanField(validators=[DataRequired(lazy_gettext(
        "Please confirm that you are 14 or older."))])


class ConsentsForm(BrowserForm):
    """The consents an account made before they were asked lacks (the page drops the others)."""

    terms = _terms_box()
    privacy = _privacy_box()
    age = _age_box()


class RegisterForm(BrowserForm):
    """Sign-up: names as the card holder would write them, e-mail, password and the consents."""

    first_name = StringField(
        lazy_gettext("First name"),
        filters=[_collapse_spaces],
        validators=[DataRequired(lazy_gettext("Please enter your first name.")),
                    Length(max=60, message=AT_MOST), _no_control_chars],
    )
    last_name = StringField(
        lazy_gettext("Last name"),
        filters=[_collapse_spaces],
        validators=[DataRequired(lazy_gettext("Please enter your last name.")),
                    Length(max=60, message=AT_MOST), _no_control_chars],
    )
    email = EmailField(
        lazy_gettext("E-mail"),
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[
            DataRequired(lazy_gettext("Please enter your e-mail address.")),
            Length(max=254, message=AT_MOST),
            Email(lazy_gettext("Please enter a valid e-mail address."), check_deliverability=False),
        ],
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[
            DataRequired(lazy_gettext("Please choose a password.")),
            Length(min=MIN_LENGTH, max=MAX_LENGTH,
                   message=lazy_gettext("The password must have %(min)d to %(max)d characters.")),
        ],
    )
    confirm = PasswordField(
        lazy_gettext("Repeat password"),
        validators=[
            DataRequired(lazy_gettext("Please repeat the password.")),
            EqualTo("password", message=lazy_gettext("The two passwords differ.")),
        ],
    )
    terms = _terms_box()
    privacy = _privacy_box()
    age = _age_box()

    def validate_password(self, field: PasswordField) -> None:
        """Not common, not the e-mail or name (storefront.passwords), with the reason if it is."""
        if field.errors:
            return
        problem = password_problem(field.data, self.email.data or "", self.first_name.data or "",
                                   self.last_name.data or "")
        if problem:
            raise ValidationError(problem)


class LoginForm(BrowserForm):
    """Log in with e-mail and password."""

    email = EmailField(
        lazy_gettext("E-mail"),
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[DataRequired(lazy_gettext("Please enter your e-mail address.")),
                    Length(max=254, message=AT_MOST),
                    _no_control_chars],
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[DataRequired(lazy_gettext("Please enter your password.")),
                    Length(max=MAX_LENGTH, message=AT_MOST)],
    )
    remember = BooleanField(lazy_gettext("Keep me logged in"))
