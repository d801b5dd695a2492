"""What a worker's push to a served repository may say: plain ref updates only (agents/served.py reads them before
receive-pack runs; which refs they may name is checked against the database in tests/test_scale_out_local_disks.py)."""

from __future__ import annotations

from agents.served import ZERO, read_commands

OLD, NEW = "a" * 40, "b" * 40


def pkt(text: str) -> bytes:
    return f"{len(text) + 4:04x}{text}".encode()


def test_a_push_names_its_ref_updates_before_the_pack():
    body = pkt(f"{OLD} {NEW} refs/heads/swarm/1/ada\0report-status side-band-64k\n") + b"0000PACK..."
    assert read_commands(body) == [(OLD, NEW, "refs/heads/swarm/1/ada")]
    two = pkt(f"{OLD} {NEW} refs/heads/swarm/1/ada\0report-status\n") + pkt(f"{ZERO} {NEW} refs/heads/main\n")
    assert read_commands(two + b"0000") == [(OLD, NEW, "refs/heads/swarm/1/ada"), (ZERO, NEW, "refs/heads/main")]


def test_anything_but_plain_updates_is_not_read_as_a_push():
    assert read_commands(pkt(f"shallow {OLD}\n") + b"0000") is None  # a shallow push
    assert read_commands(pkt("push-cert\0report-status\n") + b"0000") is None  # a signed push
    assert read_commands(b"0000") is None  # no update at all
    assert read_commands(pkt(f"{OLD} {NEW} refs/heads/x y\n") + b"0000") is None
    assert read_commands(pkt(f"{OLD} {NEW} refs/heads/x\n")) is None  # never flushed
    assert read_commands(b"zzzz") is None
    assert read_commands(b"0003") is None
