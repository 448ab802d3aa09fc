"""Client addresses of the tests of limits (documentation ranges), and how a request comes from one."""

from __future__ import annotations

ATTACKER = "203.0.113.66"
OWNER_DEVICE = "198.51.100.7"
GATEWAY = "192.0.2.10"


def from_address(address: str) -> dict:
    """Test-client options for a request from this client address."""
    return {"environ_base": {"REMOTE_ADDR": address}}
