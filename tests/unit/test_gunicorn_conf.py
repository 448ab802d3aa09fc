"""gunicorn.conf.py: what `gunicorn wsgi:app` runs with, as the README's deploy section says."""

from __future__ import annotations

import re
import subprocess
import sys

from storefront.config import ROOT


def test_gunicorn_reads_the_projects_settings():
    done = subprocess.run([sys.executable, "-m", "gunicorn", "--print-config", "wsgi:app"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    settings = dict(re.findall(r"^(\w+)\s+= (.*)$", done.stdout, re.MULTILINE))
    assert settings["bind"] == "['127.0.0.1:8000']"
    assert (settings["workers"], settings["threads"], settings["keepalive"]) == ("2", "8", "0")
    # A worker accepts no more connections than it has threads to serve them at once.
    assert settings["worker_connections"] == settings["threads"]
