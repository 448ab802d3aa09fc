"""gunicorn's settings for the storefront: `gunicorn wsgi:app` reads this file from the working
directory, and options given on the command line win over it."""

import sys

# Behind a reverse proxy on the same host (see "Deploying" in the README).
bind = "127.0.0.1:8000"
# Two processes for two cores; threads so that a request waiting on iamport does not hold up others.
workers = 2
threads = 4
# A new connection for every request. A worker takes every connection it can accept, so a client
# that keeps a few open (iamport's webhooks, a proxy) would pin them to one worker while the other
# idles; the proxy in front keeps its own connections to browsers alive.
keepalive = 0


def post_fork(server, worker):
    """Tune each worker process once it has been forked."""
    # A request waits on PostgreSQL and iamport many times. When an answer is back, its thread
    # gets the GIL within 1 ms instead of up to 5 ms while another thread runs Python; the
    # renewals benchmark settles 1,000 webhooks about a fifth faster this way (README).
    sys.setswitchinterval(0.001)
