"""The operator page (/_sandbox) and the sandbox's own control endpoints (no token needed)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for

from . import billing, scheduler, texts, webhooks
from .money import format_amount
from .settings import KNOB_SECTIONS
from .state import PINGBACK, current

bp = Blueprint("sandbox_operator", __name__, url_prefix="/_sandbox")


def _from_form() -> bool:
    """Whether the operator page's HTML form sent the request (then answer with a redirect)."""
    return request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")


def _body() -> dict[str, Any]:
    if _from_form():
        return {k: v for k, v in request.form.items() if k != "section"}
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _done(payload: dict, message: str, status: int = 200, anchor: str = "") -> Response:
    if _from_form():
        return redirect(url_for("sandbox_operator.page", msg=message) + (f"#{anchor}" if anchor else ""))
    return jsonify(payload), status


def _problem(message: str, status: int = 400) -> Response:
    if _from_form():
        return redirect(url_for("sandbox_operator.page", msg=message, error=1))
    return jsonify(error=message), status


def _clock_json() -> dict:
    sb = current()
    now = sb.clock.now()
    return {
        "now": int(now),
        "now_iso": datetime.fromtimestamp(now, tz=timezone.utc).isoformat(timespec="seconds"),
        "offset": sb.clock.offset,
    }


def _datetime(value: Any) -> str:
    if not value:
        return "—"
    return datetime.fromtimestamp(float(value), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@bp.app_template_filter("sandbox_time")
def sandbox_time(value: Any) -> str:
    """UNIX seconds as a UTC date and time for the operator page."""
    return _datetime(value)


@bp.get("")
def page() -> str:
    """Payments, billing keys, schedules and webhook deliveries, with the operator's actions."""
    sb = current()
    sb.remember_url(request.host_url)
    pending_issues = {j["ref"] for j in sb.store.jobs_pending(PINGBACK)}
    return render_template(
        "operator.html",
        clock=_clock_json(),
        payments=sb.store.payments_recent(),
        pending_issues=pending_issues,
        customers=sb.store.customers_all(),
        schedules=sb.store.schedules_all(),
        next_renewal=sb.store.schedule_next(),
        mail=sb.store.mail_list(limit=100),
        mailbox=sb.mailbox,
        webhook_rows=[webhooks.public_row(r) for r in sb.store.webhooks_all(limit=200)],
        faults=sb.knobs.section("faults"),
        webhook_settings=sb.knobs.section("webhooks"),
        delays=sb.knobs.section("delays"),
        settings=sb.settings,
        api_url=sb.public_url(),
        message=request.args.get("msg"),
        message_is_error=bool(request.args.get("error")),
        format_amount=format_amount,
    )


@bp.get("/state")
def state() -> Response:
    """Everything the operator page shows, as JSON."""
    sb = current()
    return jsonify(
        clock=_clock_json(),
        payments=[{"payment": p, "held": m.get("review") == "pending"} for p, m in sb.store.payments_recent()],
        customers=[billing.customer_object(c) for c, _ in sb.store.customers_all()],
        schedules=[billing.schedule_object(s) for s in sb.store.schedules_all()],
        pending_jobs=sb.store.jobs_pending(),
        settings={name: sb.knobs.section(name) for name in KNOB_SECTIONS},
    )


@bp.post("/reset")
def reset() -> Response:
    """Forget all payments, keys, schedules, tokens and deliveries; real time; start-up settings."""
    current().reset()
    return _done({"reset": True}, "The sandbox was reset.")


@bp.get("/clock")
def clock() -> Response:
    """The sandbox clock."""
    return jsonify(_clock_json())


# What the advance form's unit means in seconds (a request without one gives seconds).
_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def duration(seconds: float) -> str:
    """A span of time in its two largest units ("32 days 3 hours", "5 minutes"), never "2.7648e+06 s"."""
    left = int(abs(seconds))
    counts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, left = divmod(left, size)
        counts.append((count, name))
    first = next((i for i, (count, _) in enumerate(counts) if count), len(counts) - 1)
    shown = [c for c in counts[first:first + 2] if c[0]] or [counts[-1]]
    return " ".join(f"{count} {name}{'' if count == 1 else 's'}" for count, name in shown)


@bp.app_template_filter("sandbox_duration")
def sandbox_duration(value: Any) -> str:
    """Seconds as days and hours (or smaller units) for the operator page."""
    return duration(float(value or 0))


def _advance(seconds: float, message: str) -> Response:
    sb = current()
    # Under the work lock, so the background worker cannot run what the move made due before
    # this request does: the answer lists everything the move ran.
    with sb.work_lock:
        sb.clock.advance(seconds)
        ran = scheduler.run_due(sb)
    sb.wake()
    return _done({**_clock_json(), "advanced": seconds, "ran": ran},
                 f"{message}; {len(ran)} thing(s) ran.", anchor="clock")


@bp.post("/clock/advance")
def advance_clock() -> Response:
    """Move the clock forward (`seconds`, times `unit` when given) and run whatever became due."""
    body = _body()
    unit = _UNITS.get(str(body.get("unit") or "seconds"))
    try:
        seconds = float(body.get("seconds"))
    except (TypeError, ValueError):
        return _problem("seconds must be a number")
    if unit is None:
        return _problem(f"unit must be one of {', '.join(_UNITS)}")
    if seconds < 0:
        return _problem("the clock only moves forward")
    seconds *= unit
    return _advance(seconds, f"Clock advanced by {duration(seconds)}")


@bp.post("/clock/advance-to-next-renewal")
def advance_to_next_renewal() -> Response:
    """Move the clock to one second after the first scheduled payment that has not run, and run it."""
    sb = current()
    schedule = sb.store.schedule_next()
    if schedule is None:
        return _problem("Nothing is scheduled.", 409)
    seconds = max(0.0, schedule["schedule_at"] + 1 - sb.clock.now())
    return _advance(seconds, f"Clock advanced by {duration(seconds)} to the renewal {schedule['merchant_uid']}")


@bp.post("/run")
def run_now() -> Response:
    """Run due jobs and schedules now instead of at the next tick."""
    sb = current()
    ran = scheduler.run_due(sb)
    sb.wake()
    return _done({"ran": ran}, f"{len(ran)} thing(s) ran.")


def _section(name: str) -> Response:
    sb = current()
    if request.method == "GET":
        return jsonify(sb.knobs.section(name))
    data = _body()
    if _from_form():
        # Unchecked checkboxes are absent from a form post.
        for public, attr in KNOB_SECTIONS[name].items():
            if isinstance(getattr(sb.settings, attr), bool) and public not in data:
                data[public] = False
    try:
        values = sb.knobs.update(name, data)
    except ValueError as exc:
        return _problem(str(exc))
    return _done(values, f"{name.capitalize()} settings saved.", anchor="settings")


@bp.route("/faults", methods=["GET", "POST"])
def faults() -> Response:
    """Latency, share of 5xx answers and hangs of the REST API."""
    return _section("faults")


@bp.route("/webhooks/settings", methods=["GET", "POST"])
def webhook_settings() -> Response:
    """Default URL, format, delay, drop, duplicate and reorder of webhooks."""
    return _section("webhooks")


@bp.route("/delays", methods=["GET", "POST"])
def delays() -> Response:
    """How long Paymentwall's pingback, risk review and cancel callback take."""
    return _section("delays")


@bp.get("/webhooks")
def webhook_log() -> Response:
    """Every webhook delivery, newest first (?imp_uid= narrows it)."""
    rows = current().store.webhooks_all(imp_uid=request.args.get("imp_uid") or None)
    return jsonify([webhooks.public_row(r) for r in rows])


@bp.post("/webhooks/<int:webhook_id>/resend")
def resend_webhook(webhook_id: int) -> Response:
    """Send a logged webhook again."""
    new_id = webhooks.resend(current(), webhook_id)
    if new_id is None:
        return _problem("No such webhook, or nowhere to send it.", 404)
    return _done({"id": new_id}, f"Webhook {webhook_id} queued again as {new_id}.", anchor="webhooks")


def _review(imp_uid: str, decision: str) -> Response:
    sb = current()
    try:
        payment = scheduler.decide_review_now(sb, imp_uid, decision)
    except scheduler.NotHeld:
        return _problem("This payment is not held for review.", 409)
    except LookupError:
        return _problem("No such payment.", 404)
    sb.wake()
    return _done({"payment": payment}, f"{imp_uid}: review decided ({decision}).", anchor="payments")


@bp.post("/payments/<imp_uid>/approve")
def approve(imp_uid: str) -> Response:
    """End a risk review now with an approval (late paid webhook follows)."""
    return _review(imp_uid, "approve")


@bp.post("/payments/<imp_uid>/decline")
def decline(imp_uid: str) -> Response:
    """End a risk review now with a decline."""
    return _review(imp_uid, "decline")


@bp.get("/receipts/<imp_uid>")
def receipt(imp_uid: str) -> str:
    """The receipt a payment's receipt_url points to."""
    found = current().store.payment_get(imp_uid)
    if found is None:
        abort(404)
    payment, meta = found
    # The receipt is in the language of the payment's window (or of the key's, for renewals).
    language = texts.language_of(meta.get("language"))
    cancels = [texts.text(language, "receipt_cancel_item",
                          amount=format_amount(c["amount"], payment["currency"]),
                          when=_datetime(c["cancelled_at"]))
               for c in payment.get("cancel_history") or []]
    return render_template("receipt.html", payment=payment, language=language, cancels=cancels,
                           t=texts.texts_for(language),
                           amount_text=format_amount(payment["amount"], payment["currency"]))
