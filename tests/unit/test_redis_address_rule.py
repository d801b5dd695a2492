"""Which Redis addresses the deploy check calls public (RELIABILITY 14: Redis on loopback or a private network).
Only the rule: a deploy check run against a public address would try to reach it, and tests reach no outside host."""

import pytest

from swarm_web.checks import _private_host


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "::1", "[::1]", "10.0.0.7", "172.16.3.4", "192.168.1.20", "169.254.1.1", "fd00::5", "redis"]
)
def test_loopback_private_and_named_hosts_pass(host):
    assert _private_host(host)


@pytest.mark.parametrize("host", ["8.8.8.8", "1.1.1.1", "2001:4860::8888"])
def test_public_addresses_are_flagged(host):
    assert not _private_host(host)
