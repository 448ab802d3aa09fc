"""The back office's plan forms: texts in English and Korean, and the price of a plan nobody holds."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, ValidationError

from storefront.extensions import db
from storefront.formatting import minor_digits, minor_unit
from storefront.forms import AT_MOST, BrowserForm
from storefront.models import Interval, Plan
from storefront.wording import INTERVAL_WORDS

# The currencies a plan can be sold in: those the shop's PAYMENTWALL channel takes.
PLAN_CURRENCIES = ("KRW", "USD")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PRICE = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
# Plan.price is NUMERIC(12, 2): ten digits before the point.
PRICE_LIMIT = Decimal(10) ** 10
CHOOSE = lazy_gettext("Please choose one of the listed values.")


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _one_line(_form: BrowserForm, field: StringField) -> None:
    if field.data and any(ord(ch) < 32 for ch in field.data):
        raise ValidationError(_("Please use printable characters only."))


def feature_lines(text: str | None) -> list[str]:
    """A features box as a list: one feature a line, blank lines left out."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def checked_price(text: str | None, currency: str | None) -> Decimal:
    """A price as staff type it ("9,900"), checked: a number above zero in whole minor units
    of the currency (no fraction of a won); ValidationError says what is wrong."""
    text = (text or "").strip().replace(",", "")
    if not PRICE.match(text):
        raise ValidationError(_("Please enter the price as a number, for example 9.00."))
    price = Decimal(text)
    if price <= 0:
        raise ValidationError(_("The price must be more than zero."))
    if price >= PRICE_LIMIT:
        raise ValidationError(_("The price is too large."))
    if currency in PLAN_CURRENCIES and price % minor_unit(currency):
        if minor_digits(currency) == 0:
            raise ValidationError(_("%(currency)s has no decimal places: please enter a "
                                    "whole amount.", currency=currency))
        raise ValidationError(_("%(currency)s has at most %(digits)d decimal places.",
                                currency=currency, digits=minor_digits(currency)))
    return price


class PlanTextsForm(BrowserForm):
    """What can change on any plan: its name, description and features, in English and Korean."""

    name = StringField(lazy_gettext("Name (English)"), filters=[_strip], validators=[
        DataRequired(lazy_gettext("Please enter the plan's name in English.")),
        Length(max=80, message=AT_MOST), _one_line])
    description = TextAreaField(lazy_gettext("Description (English)"), filters=[_strip],
                                validators=[Length(max=2000, message=AT_MOST)])
    features = TextAreaField(lazy_gettext("Features (English), one a line"), filters=[_strip],
                             validators=[Length(max=2000, message=AT_MOST)])
    name_ko = StringField(lazy_gettext("Name (Korean)"), filters=[_strip], validators=[
        DataRequired(lazy_gettext("Please enter the plan's name in Korean.")),
        Length(max=80, message=AT_MOST), _one_line])
    description_ko = TextAreaField(lazy_gettext("Description (Korean)"), filters=[_strip],
                                   validators=[Length(max=2000, message=AT_MOST)])
    features_ko = TextAreaField(lazy_gettext("Features (Korean), one a line"), filters=[_strip],
                                validators=[Length(max=2000, message=AT_MOST)])

    def fill_from(self, plan: Plan) -> None:
        """Show the plan's texts in the fields (a GET of the edit page)."""
        korean = (plan.translations or {}).get("ko") or {}
        self.name.data, self.description.data = plan.name, plan.description
        self.features.data = "\n".join(plan.features or [])
        self.name_ko.data = korean.get("name", "")
        self.description_ko.data = korean.get("description", "")
        self.features_ko.data = "\n".join(korean.get("features") or [])

    def apply_to(self, plan: Plan) -> None:
        """Write the texts onto the plan; the Korean ones in Plan.translations["ko"]."""
        plan.name = self.name.data
        plan.description = self.description.data or ""
        plan.features = feature_lines(self.features.data)
        korean = {"name": self.name_ko.data, "description": self.description_ko.data,
                  "features": feature_lines(self.features_ko.data)}
        # A new dict, so that the JSON column sees the change; other languages are kept.
        plan.translations = {**(plan.translations or {}),
                             "ko": {key: value for key, value in korean.items() if value}}


class PlanForm(PlanTextsForm):
    """A plan in full: a new one, or one nobody subscribes to (its price may still change)."""

    slug = StringField(lazy_gettext("Slug (in the plan's address)"), filters=[_strip], validators=[
        DataRequired(lazy_gettext("Please enter a slug.")), Length(max=40, message=AT_MOST)])
    price = StringField(lazy_gettext("Price"), filters=[_strip], validators=[
        DataRequired(lazy_gettext("Please enter the price."))])
    currency = SelectField(lazy_gettext("Currency"), validate_choice=False,
                           choices=[SelectChoice(code) for code in PLAN_CURRENCIES],
                           validators=[AnyOf(PLAN_CURRENCIES, message=CHOOSE)])
    interval = SelectField(lazy_gettext("Billed every"), validate_choice=False,
                           choices=[SelectChoice(str(i), INTERVAL_WORDS[str(i)]) for i in Interval],
                           validators=[AnyOf([str(i) for i in Interval], message=CHOOSE)])

    def __init__(self, *args, plan_id: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._plan_id = plan_id

    def validate_slug(self, field: StringField) -> None:
        """Lower-case words joined by hyphens, and no other plan's."""
        if not SLUG.match(field.data or ""):
            raise ValidationError(_("Use lower-case letters, digits and hyphens only, for "
                                    "example team-monthly."))
        taken = db.session.execute(db.select(Plan.id).where(Plan.slug == field.data)).scalar()
        if taken is not None and taken != self._plan_id:
            raise ValidationError(_("This slug is already taken by another plan."))

    def validate_price(self, field: StringField) -> None:
        """A number above zero in whole minor units of the currency (no fraction of a won)."""
        field.data = str(checked_price(field.data, self.currency.data))

    def fill_from(self, plan: Plan) -> None:
        super().fill_from(plan)
        self.slug.data, self.currency.data = plan.slug, plan.currency
        self.price.data = str(plan.price)
        self.interval.data = str(plan.interval)

    def apply_to(self, plan: Plan) -> None:
        super().apply_to(plan)
        plan.slug, plan.currency = self.slug.data, self.currency.data
        plan.price = Decimal(self.price.data)
        plan.interval = Interval(self.interval.data)


class SaleForm(BrowserForm):
    """Withdraw a plan from sale ("0") or put it back ("1")."""

    on_sale = HiddenField(validators=[DataRequired(CHOOSE), AnyOf(["0", "1"], message=CHOOSE)])
