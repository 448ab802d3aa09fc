"""The bare Flask app the pages are compared with: `gunicorn bench.hello_app:app`."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    """The least a Flask view can do."""
    return "Hello, World!"
