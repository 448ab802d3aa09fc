"""The forms that mail a link, and those that check a password, are rate-limited per client address."""

from __future__ import annotations

import pytest

from tests.support.addresses import GATEWAY, OWNER_DEVICE, from_address


@pytest.mark.parametrize("setting, path, data", [
    ("ACCOUNT_MAIL_RATE_LIMIT", "/auth/forgot", {"email": "victim@example.com"}),
    ("ACCOUNT_MAIL_RATE_LIMIT", "/account/confirm/resend", {}),
    ("ACCOUNT_MAIL_RATE_LIMIT", "/account/email", {"email": "victim@example.com", "current": "x"}),
    ("LOGIN_RATE_LIMIT", "/auth/reset/not-a-token", {"password": "x", "confirm": "x"}),
    ("LOGIN_RATE_LIMIT", "/account/password", {"current": "x"}),
    ("LOGIN_RATE_LIMIT", "/account/delete", {"current": "x"}),
])
def test_self_service_forms_are_rate_limited(limited, setting, path, data):
    app = limited(**{setting: "3 per minute"})
    client = app.test_client()
    answers = [client.post(path, data=data, **from_address(GATEWAY)) for _ in range(4)]
    assert 429 not in [answer.status_code for answer in answers[:3]]
    refused = answers[3]
    assert refused.status_code == 429 and "Too many requests" in refused.get_data(as_text=True)
    assert client.post(path, data=data, **from_address(OWNER_DEVICE)).status_code != 429


def test_the_mail_limit_has_a_default(limited):
    assert limited().config["ACCOUNT_MAIL_RATE_LIMIT"] == "10 per hour"
