"""`make run`'s stand-in for cron (storefront/jobs.py DemoJobs) and its port (PORT, PUBLIC_URL)."""

from __future__ import annotations

import logging

import pytest

from storefront import create_app, jobs
from storefront.billing import ReconcileReport
from storefront.config import load
from storefront.config_iamport import ConfigError


def test_one_step_runs_the_periodic_job_in_an_app_context_of_its_own(app, monkeypatch):
    seen = []

    def periodic():
        from flask import current_app
        seen.append(current_app._get_current_object())
        return ReconcileReport()

    monkeypatch.setattr(jobs, "periodic", periodic)
    demo = jobs.DemoJobs(app, seconds=3600)
    assert isinstance(demo.step(), ReconcileReport)
    assert seen == [app]


def test_a_failed_step_is_logged_and_the_loop_goes_on(app, monkeypatch, caplog):
    def periodic():
        raise jobs.Unreachable("connection refused")

    monkeypatch.setattr(jobs, "periodic", periodic)
    with caplog.at_level(logging.ERROR, logger="storefront.jobs"):
        assert jobs.DemoJobs(app, seconds=3600).step() is None
    assert "the periodic job failed" in caplog.text


def test_the_loop_runs_a_step_each_interval_until_stopped(app, monkeypatch):
    demo = jobs.DemoJobs(app, seconds=3600)
    steps = []

    class Waits:
        """An event whose wait returns at once: the interval is not slept."""

        def __init__(self):
            self.calls = 0

        def wait(self, seconds):
            assert seconds == 3600
            self.calls += 1
            return self.calls > 2  # two intervals pass, then the loop is stopped

    monkeypatch.setattr(demo, "_stop", Waits())
    monkeypatch.setattr(demo, "step", lambda: steps.append(1))
    demo._loop()
    assert steps == [1, 1]


def test_demo_jobs_seconds_defaults_to_30_and_is_checked(monkeypatch):
    monkeypatch.delenv("DEMO_JOBS_SECONDS", raising=False)
    assert load({"SECRET_KEY": "t"})["DEMO_JOBS_SECONDS"] == 30
    monkeypatch.setenv("DEMO_JOBS_SECONDS", "soon")
    with pytest.raises(ConfigError, match="DEMO_JOBS_SECONDS"):
        load({"SECRET_KEY": "t"})


def test_public_url_in_sandbox_mode_is_the_demo_on_its_port(monkeypatch):
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.setenv("IAMPORT_MODE", "sandbox")
    monkeypatch.setenv("PORT", "8123")
    assert load({"SECRET_KEY": "t"})["PUBLIC_URL"] == "http://127.0.0.1:8123"
    monkeypatch.setenv("PORT", "80a")
    with pytest.raises(ConfigError, match="PORT"):
        load({"SECRET_KEY": "t"})


def test_run_demo_takes_its_port_from_port(monkeypatch, tmp_path):
    served = {}
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    app = create_app({"SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
                      "SANDBOX_URL": ""})
    monkeypatch.setattr("storefront.cli.run_simple",
                        lambda host, port, *args, **kwargs: served.update(host=host, port=port))
    monkeypatch.setattr(jobs.DemoJobs, "start", lambda self: None)
    result = app.test_cli_runner().invoke(args=["run-demo"])
    assert result.exit_code == 0, result.output
    assert served == {"host": "127.0.0.1", "port": 8123}
    assert app.config["PUBLIC_URL"] == "http://127.0.0.1:8123"
