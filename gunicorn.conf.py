"""gunicorn's settings for the storefront: `gunicorn wsgi:app` reads this file from the working
directory, and options given on the command line win over it."""

# Behind a reverse proxy on the same host (see "Deploying" in the README).
bind = "127.0.0.1:8000"
# Two processes for two cores; threads so that a request waiting on iamport does not hold up others.
# A webhook keeps its thread after answering, while the next renewal's schedule goes to iamport
# (call_on_close), so each worker has twice the threads a request alone would need.
workers = 2
threads = 8
# One connection per thread: a worker whose threads are all busy stops accepting, and the next
# connection waits in the listen queue for whichever worker frees a thread first. With gunicorn's
# default of 1,000, a worker took another webhook and held it behind its busy threads while
# the other worker had idle ones (README, "Performance"). A command line that changes one should
# give both.
worker_connections = threads
# A new connection for every request: a client that keeps a few open (iamport's webhooks, a proxy)
# would pin them to the worker that accepted them, and an idle kept connection would hold one of its
# threads' places; the proxy in front keeps its own connections to browsers alive.
keepalive = 0
