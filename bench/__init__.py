"""Benchmarks of the storefront: `make bench` (or `python -m bench.run`), never part of `make test`."""
