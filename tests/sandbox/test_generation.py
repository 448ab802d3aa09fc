"""The sandbox's generation: a number beside its clock that every reset moves on, so a shop can notice one."""
from __future__ import annotations

from tests.support.sandbox import start_sandbox


def test_each_reset_moves_the_generation_on_and_a_restart_keeps_it(tmp_path):
    database = tmp_path / "sandbox.sqlite3"
    first = start_sandbox(database)
    try:
        assert first.control("GET", "/clock")["generation"] == 0
        first.advance(3600)
        first.control("POST", "/reset")
        assert first.control("GET", "/clock")["generation"] == 1
        first.control("POST", "/reset")
        clock = first.control("GET", "/clock")
        assert clock["generation"] == 2 and clock["offset"] == 0
    finally:
        first.stop()
    second = start_sandbox(database)
    try:
        assert second.control("GET", "/clock")["generation"] == 2
    finally:
        second.stop()
